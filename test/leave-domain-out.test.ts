/**
 * Universality measured: `guie run` on records of three domains reports, per held-out domain, the
 * shipped model beside the training-free baselines, and leave-one-domain-out: for each recipe and
 * domain a head trained without it (its rows really absent), validated on its training rows, scored on
 * its queries beside the whitened PCA fitted on the same rows, with a warning wherever training loses
 * to that whitening; the recipe and epochs with the best held-out-domain validation train the shipped head.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_CONFIG, mergeConfig } from '../lib/config';
import { buildRecords, MANIFEST_FILE, mergeManifests } from '../lib/data/builders/build';
import { listFolderSource } from '../lib/data/builders/sources';
import { initBackend } from '../lib/device';
import { runMainJob } from '../lib/main-job';
import { writeJsonAtomic } from '../lib/util/atomic';
import { classFolders } from './helpers/photos';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-lodo-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('per-domain table and leave-one-domain-out on three domains', async () => {
  await initBackend();
  const records = path.join(tmp, 'records');
  fs.mkdirSync(records);
  const manifests = [];
  // three "domains": disjoint ranges of the packaged photos, 8 classes x 4 views each
  for (const [i, domain] of ['north', 'south', 'west'].entries()) {
    const photos = path.join(tmp, domain);
    await classFolders(photos, 8, 4, 100 + 60 * i, 128);
    const built = path.join(tmp, `built-${domain}`);
    manifests.push(await buildRecords(listFolderSource(photos), { outDir: built, source: domain, kind: 'folder', root: photos, labelOffset: 100 * i, progressMode: 'silent' }));
    for (const f of fs.readdirSync(built).filter((f) => f.endsWith('.tfrec'))) fs.copyFileSync(path.join(built, f), path.join(records, f));
  }
  writeJsonAtomic(path.join(records, MANIFEST_FILE), mergeManifests(manifests));

  const config = mergeConfig(DEFAULT_CONFIG, { validFraction: 0.25, epochs: 6, recipes: 'base,l2-sp', backboneEpochs: 0, batchSize: 16, paths: { ...DEFAULT_CONFIG.paths, data: records, cache: path.join(tmp, 'cache'), outputs: tmp } });
  const res = await runMainJob({ config, outDir: path.join(tmp, 'run'), jig: false, log: () => undefined });
  expect(res.stages.map((s) => s.stage)).toContain('leave domain out');

  // per domain: every held-out domain, the model beside the baselines, on the same queries as the overall table
  expect(res.domains.map((d) => d.domain).sort()).toEqual(['north', 'south', 'west']);
  expect(res.domains.reduce((a, d) => a + d.queries, 0)).toBe(res.metrics.overall.queries);
  for (const d of res.domains) {
    expect(d.model).toBeCloseTo(res.metrics.byDomain[d.domain].mP5, 10);
    for (const v of [d.whitened, d.whitenedGallery, d.raw, d.pca]) expect(v).toBeGreaterThanOrEqual(0);
  }

  // leave-one-domain-out: each head trained on the other two domains' rows only
  const lodo = res.leaveOut!;
  expect(lodo.map((r) => r.domain)).toEqual(['north', 'south', 'west']);
  const trainRows = JSON.parse(fs.readFileSync(path.join(tmp, 'run', 'run.json'), 'utf8')).split.train as number;
  for (const r of lodo) {
    expect(r.trainRows).toBeLessThan(trainRows);
    expect(r.trainRows).toBeGreaterThan(trainRows / 2 - 8); // two of three equal domains remain
    expect(r.queries).toBe(res.domains.find((d) => d.domain === r.domain)!.queries);
    // the raw and on-gallery references do not depend on training: the same numbers as the per-domain table
    expect(r.raw).toBeCloseTo(res.domains.find((d) => d.domain === r.domain)!.raw, 10);
    expect(r.whitenedGallery).toBeCloseTo(res.domains.find((d) => d.domain === r.domain)!.whitenedGallery, 10);
    expect(r.trained).toBeGreaterThan(0);
  }
  // the recipe search: both recipes scored; the chosen one has the best mean validation (the first on a tie) and set the shipped head's epochs
  const tried = res.recipes.tried;
  expect(tried.map((t) => t.recipe)).toEqual(['base', 'l2-sp']);
  const top = Math.max(...tried.map((t) => t.validation));
  expect(res.recipes.chosen).toBe(tried.find((t) => t.validation === top)!.recipe);
  for (const t of tried) expect([0, 1, 2, 3, 4, 5, 6]).toContain(t.epochs);
  const chosen = tried.find((t) => t.recipe === res.recipes.chosen)!;
  expect(res.recipes.epochs).toBe(Math.max(1, chosen.epochs));
  expect(chosen.test).toBeCloseTo(lodo.reduce((a, r) => a + r.trained, 0) / lodo.length, 10);
  const run = JSON.parse(fs.readFileSync(path.join(tmp, 'run', 'run.json'), 'utf8'));
  expect(run.recipe.chosen).toBe(res.recipes.chosen);
  expect(run.train.stopAfterEpochs).toBe(res.recipes.epochs);
  const epochRecords = fs.readFileSync(path.join(tmp, 'run', 'train', 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"type":"epoch"'));
  expect(epochRecords.length).toBe(res.recipes.epochs);
  // each fold's curve: one point per epoch plus the start, validated on the domain's training rows only
  for (const recipe of ['base', 'l2-sp']) {
    const folds = ['north', 'south', 'west'].map((d) => JSON.parse(fs.readFileSync(path.join(tmp, 'run', 'leave-out', recipe, d, 'done.json'), 'utf8')).result);
    for (const fold of folds) {
      expect(fold.curve).toHaveLength(7);
      expect(fold.bestEpoch).toBe(fold.curve.indexOf(Math.max(...fold.curve)));
    }
    // every training/validation row validates the one fold that leaves its domain out and trains the two others
    expect(folds.reduce((a, f) => a + f.valRows, 0)).toBe(trainRows + (run.split.val as number));
    expect(folds.reduce((a, f) => a + f.trainRows, 0)).toBe(2 * trainRows);
  }
  const stage = res.stages.find((s) => s.stage === 'leave domain out')!.result;
  expect(stage).toMatch(/recipes by mean held-out-domain validation: base \d\.\d{4} at epoch \d, l2-sp \d\.\d{4} at epoch \d; chosen (base|l2-sp)/);
  expect(stage).toMatch(/north: trained without it \d\.\d{4} vs whitened \d\.\d{4}/);
  const losers = lodo.filter((r) => r.trained < r.whitened).map((r) => r.domain);
  if (losers.length > 0) expect(stage).toContain(`warning: the trained head loses to the training-free whitening on ${losers.join(', ')}`);
  else expect(stage).not.toContain('warning');
}, 900_000);
