/**
 * Training-free baselines beside a model (`guie eval --model`, the jig report): a real exported
 * MobileNetV2 + random head run by ONNX Runtime on two domains of class folders; the baselines'
 * mP@5 against an independent computation here (the backbone run directly, PCA fitted on the
 * index, float64 brute-force neighbours, the host's formula), `--no-baselines`, the reasons a
 * baseline is skipped, and the jig report's table.
 */
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { normalizeRgb, resizeForModel } from '../../lib/data/image';
import { initBackend } from '../../lib/device';
import { exportCommand } from '../../lib/export/export-model';
import { Rng } from '../../lib/util/random';
import { jigCommand } from '../../lib/jig/commands';
import { loadModel } from '../../lib/model-loader';
import { loadBackbone } from '../../lib/model/backbones';
import { compareToBaselines, formatBaselines, losingDomains, type BaselineComparison } from '../../lib/retrieval/baselines';
import { ColourHistogramEmbedder } from '../../lib/retrieval/colour-histogram';
import { register } from '../../lib/retrieval/commands';
import { evalCommand, type EvalReport } from '../../lib/retrieval/evaluate';
import { calibratedPrecision, type MetricsReport, type MetricSet } from '../../lib/retrieval/metrics';
import { applyPca, fitPca } from '../../lib/retrieval/pca';
import { openBaselineBackbone } from '../../lib/retrieval/baseline-backbone';
import { TRAIN_WHITENING, writeTrainWhitening } from '../../lib/retrieval/train-whitening';
import { saveCheckpoint } from '../../lib/train/checkpoint';
import { classFolders } from '../helpers/photos';

const BACKBONE = 'mobilenet_v2_140';
let tmp: string;
let onnxFile: string;
const queriesDir = () => path.join(tmp, 'queries');
const indexDir = () => path.join(tmp, 'index');

/** `<domain>/<class>/photo-v.jpg`: view 0 of each class is the query, views 1..3 the index. */
async function twoDomains(): Promise<void> {
  for (const [domain, first] of [['dishes-a', 0], ['dishes-b', 40]] as const) {
    const raw = path.join(tmp, 'raw', domain);
    for (const cls of await classFolders(raw, 5, 4, first)) {
      for (const v of [0, 1, 2, 3]) {
        const to = path.join(v === 0 ? queriesDir() : indexDir(), domain, cls);
        fs.mkdirSync(to, { recursive: true });
        fs.copyFileSync(path.join(raw, cls, `photo-${v}.jpg`), path.join(to, `photo-${v}.jpg`));
      }
    }
  }
}

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-baselines-'));
  await twoDomains();
  // a random 1792 -> 64 head on the packaged MobileNetV2, exported (ONNX metadata records the backbone)
  const r = new Rng(5);
  const inDim = 1792;
  const tensors = new Map([
    ['param/head.proj.weight', { shape: [64, inDim], values: Float32Array.from({ length: inDim * 64 }, () => (r.float() - 0.5) * 0.1) }],
    ['param/head.proj.bias', { shape: [64], values: new Float32Array(64) }],
  ]);
  const state = { step: 1, epoch: 1, batchInEpoch: 0, rng: { s: [1, 2, 3, 4] } as never, optimizer: { kind: 'adamw', step: 1 }, best: null, extra: {} };
  const ckpt = saveCheckpoint(path.join(tmp, 'ckpts'), 'ckpt-000000001', state, tensors);
  await exportCommand({ backbone: BACKBONE, out: path.join(tmp, 'export'), checkpoint: ckpt });
  onnxFile = path.join(tmp, 'export', 'model.onnx');
}, 600000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Raw backbone features of every image under `dir`, ids = relative paths, computed here with the backbone itself. */
async function directFeatures(dir: string, files: string[]): Promise<Float32Array> {
  const backbone = await loadBackbone(BACKBONE);
  const pp = backbone.preprocess;
  const out = new Float32Array(files.length * backbone.featureDim);
  for (const [i, f] of files.entries()) {
    const img = await resizeForModel(fs.readFileSync(path.join(dir, f)), pp);
    const x = tf.tensor4d(normalizeRgb(img, pp), [1, pp.imageSize, pp.imageSize, 3]);
    const y = backbone.features(x);
    out.set(y.dataSync(), i * backbone.featureDim);
    tf.dispose([x, y]);
  }
  backbone.dispose();
  return out;
}

const listRel = (dir: string) => fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.jpg')).map((f) => f.split(path.sep).join('/')).sort();

/** mP@5 overall and per top folder by float64 brute-force cosine neighbours and the host's CalibratedPrecision. */
function bruteMp5(q: Float32Array, x: Float32Array, dim: number, qIds: string[], xIds: string[]): Record<string, number> {
  const unit = (v: Float32Array, n: number) => Array.from({ length: n }, (_, i) => {
    const row = Array.from(v.subarray(i * dim, (i + 1) * dim), Number);
    const norm = Math.sqrt(row.reduce((s, a) => s + a * a, 0));
    return row.map((a) => a / norm);
  });
  const qu = unit(q, qIds.length);
  const xu = unit(x, xIds.length);
  const cls = (id: string) => id.split('/').slice(0, 2).join('/');
  const predictions = new Map(qIds.map((id, i) => {
    const s = xu.map((row) => row.reduce((acc, a, j) => acc + a * qu[i][j], 0));
    return [id, xIds.map((_, r) => r).sort((a, b) => s[b] - s[a] || a - b).map((r) => xIds[r])];
  }));
  const relevance = new Map(qIds.map((id) => [id, xIds.filter((x2) => cls(x2) === cls(id))]));
  const out: Record<string, number> = { overall: calibratedPrecision(predictions, relevance) };
  for (const d of new Set(qIds.map((id) => id.split('/')[0]))) out[d] = calibratedPrecision(predictions, relevance, 5, new Set(qIds.filter((id) => id.startsWith(`${d}/`))));
  return out;
}

let evalReport: EvalReport;

test('guie eval --model: raw, PCA and whitened PCA fitted on the index equal an independent computation, per domain', async () => {
  const program = new Command().exitOverride();
  const work = path.join(tmp, 'work');
  register(program, (m) => loadModel(m), () => work);
  const out = path.join(tmp, 'report.json');
  const logs: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((s: string) => void logs.push(s));
  try {
    await program.parseAsync(['eval', '--model', onnxFile, '--queries', queriesDir(), '--index', indexDir(), '--out', out], { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  evalReport = JSON.parse(fs.readFileSync(out, 'utf8')) as EvalReport;
  const b = evalReport.baselines as BaselineComparison;
  expect(b).toMatchObject({ kind: 'computed', backbone: BACKBONE, featureDim: 1792, pcaDim: 29, fittedOn: 'gallery' });
  expect(b.rows.map((r) => r.group)).toEqual(['overall', 'dishes-a', 'dishes-b']);
  expect(Object.keys(b.metrics.whitenedGallery.byDomain).sort()).toEqual(Object.keys(evalReport.metrics.byDomain).sort());

  const qIds = listRel(queriesDir());
  const xIds = listRel(indexDir());
  expect([qIds.length, xIds.length]).toEqual([10, 30]);
  const q = await directFeatures(queriesDir(), qIds);
  const x = await directFeatures(indexDir(), xIds);
  const pca = fitPca(x, 1792, 29, { seed: 0 });
  const expected = {
    raw: bruteMp5(q, x, 1792, qIds, xIds),
    pca: bruteMp5(applyPca(pca, q), applyPca(pca, x), 29, qIds, xIds),
    whitenedGallery: bruteMp5(applyPca(pca, q, true, true), applyPca(pca, x, true, true), 29, qIds, xIds),
  };
  for (const row of b.rows) {
    expect(row.raw).toBeCloseTo(expected.raw[row.group], 10);
    expect(row.pca).toBeCloseTo(expected.pca[row.group], 10);
    expect(row.whitenedGallery).toBeCloseTo(expected.whitenedGallery[row.group], 10);
    const model = row.group === 'overall' ? evalReport.metrics.overall : evalReport.metrics.byDomain[row.group];
    expect(row.model).toBe(model.mP5);
    expect(row.loses).toBe(row.model < row.whitenedGallery);
  }
  expect(expected.raw.overall).toBeGreaterThan(0.5); // the untrained backbone does find views of its photos
  const text = logs.join('\n');
  expect(b.train).toBeNull(); // this export's head was written by hand: no training run, no training whitening
  expect(b.rows.every((r) => r.whitenedTrain === null)).toBe(true);
  expect(text).toContain(`training-free baselines (untrained ${BACKBONE}; the model carries no training whitening (re-export it from a run of this version for that column); the PCAs marked "gallery" fitted on the gallery's features: transductive)`);
  expect(text).toMatch(new RegExp(`domain:dishes-a\\s+5\\s+<?${b.rows[1].model.toFixed(4)}\\s+${b.rows[1].whitenedGallery.toFixed(4)}\\s+${b.rows[1].pca.toFixed(4)}\\s+${b.rows[1].raw.toFixed(4)}`));
  const losing = losingDomains(b);
  if (losing.length > 0) expect(text).toContain(`warning: the model loses to a training-free whitened PCA on ${losing.map((d) => `${d} (on the gallery)`).join(', ')}`);
  else expect(text).not.toContain('warning: the model loses');

  // cached like the model's embeddings: one folder per key (model, backbone), queries + index each; a rerun reads them
  const keys = fs.readdirSync(work);
  expect(keys).toHaveLength(2);
  for (const k of keys) expect(fs.readdirSync(path.join(work, k)).map((d) => d.split('-')[0]).sort()).toEqual(['index', 'queries']);
  const stamp = (d: string) => fs.statSync(path.join(work, d, fs.readdirSync(path.join(work, d))[0], 'vectors.f32')).mtimeMs;
  const before = keys.map(stamp);
  const again = await evalCommand({ queries: queriesDir(), index: indexDir(), workDir: work, ...(await modelOptions()) }, () => undefined);
  expect(keys.map(stamp)).toEqual(before);
  expect((again.baselines as BaselineComparison).rows).toEqual(b.rows);
});

async function modelOptions() {
  const m = await loadModel(onnxFile);
  return { embedder: m.embedder, modelFingerprint: m.fingerprint, openBaseline: () => openBaselineBackbone(m.backbone) };
}

test('--no-baselines never opens the backbone; a backbone that cannot run offline is one line saying why', async () => {
  const work = path.join(tmp, 'work-skip');
  const loader = async (m: string) => ({ embedder: new ColourHistogramEmbedder(), fingerprint: `hist:${m}`, description: m, backbone: m });
  // a fresh program per run: commander keeps option values between parses of one program
  const guie = (args: string[]) => {
    const program = new Command().exitOverride();
    register(program, loader, () => work);
    return program.parseAsync(args, { from: 'user' });
  };
  const logs: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((s: string) => void logs.push(s));
  try {
    const out = path.join(tmp, 'skip.json');
    await guie(['eval', '--model', BACKBONE, '--no-baselines', '--queries', queriesDir(), '--index', indexDir(), '--out', out]);
    expect((JSON.parse(fs.readFileSync(out, 'utf8')) as EvalReport).baselines).toBeUndefined();
    expect(fs.readdirSync(work)).toHaveLength(1); // the histogram's embeddings only, no backbone features
    expect(logs.join('\n')).not.toMatch(/training-free|baselines:/);

    logs.length = 0;
    await guie(['eval', '--model', 'resnet9000', '--queries', queriesDir(), '--index', indexDir(), '--out', out]);
    expect(logs.filter((l) => l.startsWith('baselines: skipped: unknown backbone "resnet9000"'))).toHaveLength(1);
    expect((JSON.parse(fs.readFileSync(out, 'utf8')) as EvalReport).baselines).toMatchObject({ kind: 'skipped', reason: expect.stringMatching(/^unknown backbone "resnet9000"/) });

    logs.length = 0;
    await guie(['eval', '--model', 'test-tiny', '--queries', queriesDir(), '--index', indexDir()]);
    expect(logs.join('\n')).toMatch(/baselines: skipped: backbone test-tiny needs its weights offline and there are none at .*test-tiny\.safetensors/);
  } finally {
    spy.mockRestore();
  }
});

test('the jig report: baseline columns per domain, the same numbers as guie eval, losing cells marked', async () => {
  const out = path.join(tmp, 'jig.html');
  const lines: string[] = [];
  const r = await jigCommand({ gallery: indexDir(), queries: queriesDir(), model: onnxFile, out, k: 5, cacheDir: path.join(tmp, 'jig-cache') }, (s) => lines.push(s));
  const b = r.baselines as BaselineComparison;
  expect(b.rows).toEqual((evalReport.baselines as BaselineComparison).rows);
  const html = fs.readFileSync(out, 'utf8');
  expect(html).toContain('<th>mP@5 model</th><th>whitened PCA-29 (fitted on the gallery)</th><th>PCA-29 (gallery)</th><th>raw 1792-d</th>');
  for (const row of b.rows) {
    const model = `<b>${row.model.toFixed(3)}</b>`;
    const cells = `<td>${row.whitenedGallery.toFixed(3)}</td><td>${row.pca.toFixed(3)}</td><td>${row.raw.toFixed(3)}</td>`;
    const marked = row.loses ? `<td class="lose" title="loses to a whitened PCA (fitted on the training data or on the gallery)">${model} ▼</td>` : `<td>${model}</td>`;
    expect(html).toContain(`<tr><th style="text-align:left">${row.group}</th><td>${row.queries}</td>${marked}${cells}`);
  }
  expect(lines.join('\n')).toContain('training-free baselines (untrained mobilenet_v2_140');

  const plain = await jigCommand({ gallery: indexDir(), queries: queriesDir(), model: onnxFile, out, k: 5, cacheDir: path.join(tmp, 'jig-cache'), baselines: false }, () => undefined);
  expect(plain.baselines).toBeUndefined();
  expect(fs.readFileSync(out, 'utf8')).toContain('<th>mP@5</th><th>recall@1</th>');
});

test('a model that carries its training whitening: guie eval and the jig score it as its own column, equal to an independent computation; a damaged file is named in one warning', async () => {
  // the "training data": dishes-a's index images only, fitted here with the backbone run directly
  const xIds = listRel(indexDir());
  const qIds = listRel(queriesDir());
  const x = await directFeatures(indexDir(), xIds);
  const q = await directFeatures(queriesDir(), qIds);
  const trainRows = xIds.map((id, i) => [id, i] as const).filter(([id]) => id.startsWith('dishes-a/')).map(([, i]) => i);
  const trainX = new Float32Array(trainRows.length * 1792);
  trainRows.forEach((r, i) => trainX.set(x.subarray(r * 1792, (r + 1) * 1792), i * 1792));
  const pca = fitPca(trainX, 1792, 12, { seed: 3 });
  const dir = path.join(tmp, 'export-whitened');
  fs.cpSync(path.join(tmp, 'export'), dir, { recursive: true });
  writeTrainWhitening(dir, { backbone: BACKBONE, rows: trainRows.length, pca });
  const m = await loadModel(path.join(dir, 'model.onnx'));
  expect(m.trainWhitening).toMatchObject({ backbone: BACKBONE, rows: 15 });
  expect(Array.from(m.trainWhitening!.pca.components)).toEqual(Array.from(pca.components)); // float32 round trip, bit for bit
  m.embedder.dispose();

  const program = new Command().exitOverride();
  register(program, (spec) => loadModel(spec), () => path.join(tmp, 'work-whitened'));
  const out = path.join(tmp, 'whitened.json');
  const logs: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((s: string) => void logs.push(s));
  try {
    await program.parseAsync(['eval', '--model', path.join(dir, 'model.onnx'), '--queries', queriesDir(), '--index', indexDir(), '--out', out], { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  const b = (JSON.parse(fs.readFileSync(out, 'utf8')) as EvalReport).baselines as BaselineComparison;
  expect(b.train).toEqual({ k: 12, rows: 15 });
  const expected = bruteMp5(applyPca(pca, q, true, true), applyPca(pca, x, true, true), 12, qIds, xIds);
  for (const row of b.rows) {
    expect(row.whitenedTrain).toBeCloseTo(expected[row.group], 10);
    expect(row.loses).toBe(row.model < row.whitenedGallery || row.model < row.whitenedTrain!);
  }
  expect(expected.overall).toBeGreaterThan(0.4); // a whitening fitted on one domain still finds views on both
  const text = logs.join('\n');
  expect(text).toContain(`training-free baselines (untrained ${BACKBONE}; one whitening fitted on the model's 15 training rows, the PCAs marked "gallery"`);
  const r1 = b.rows[1];
  expect(text).toMatch(new RegExp(`domain:dishes-a\\s+5\\s+<?${r1.model.toFixed(4)}\\s+${r1.whitenedTrain!.toFixed(4)}\\s+${r1.whitenedGallery.toFixed(4)}\\s+${r1.pca.toFixed(4)}\\s+${r1.raw.toFixed(4)}`));

  // the jig report: the same column, headed by its rows
  const html = path.join(tmp, 'jig-whitened.html');
  const jig = await jigCommand({ gallery: indexDir(), queries: queriesDir(), model: path.join(dir, 'model.onnx'), out: html, k: 5, cacheDir: path.join(tmp, 'jig-cache-w') }, () => undefined);
  expect((jig.baselines as BaselineComparison).rows).toEqual(b.rows);
  expect(fs.readFileSync(html, 'utf8')).toContain('<th>mP@5 model</th><th>whitened PCA-12 (fitted on 15 training rows)</th><th>whitened PCA-29 (fitted on the gallery)</th>');

  // damaged: truncated components
  const file = path.join(dir, TRAIN_WHITENING);
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(file, JSON.stringify({ ...j, components: (j.components as string).slice(0, 400) }));
  // it only feeds a baseline column: the model still loads, without it, and one warning names the file and the problem
  const warned: string[] = [];
  const warn = jest.spyOn(console, 'warn').mockImplementation((m: string) => void warned.push(m));
  try {
    const damaged = await loadModel(path.join(dir, 'model.onnx'));
    expect(damaged.trainWhitening).toBeNull();
    damaged.embedder.dispose();
  } finally {
    warn.mockRestore();
  }
  expect(warned).toEqual([`${file}: "components" holds 300 bytes, expected 86016 (21504 floats): the file is damaged (re-run training or delete it); the training-whitening baseline is left out`]);
}, 300_000);

test('compareToBaselines: rows overall then sorted domains, a loss is a loss to a whitened PCA (gallery, or training data when given)', () => {
  const set = (mP5: number, queries = 4): MetricSet => ({ queries, mP5, mAP100: 0, recall: {} });
  const report = (overall: number, byDomain: Record<string, number>): MetricsReport => ({ overall: set(overall, 8), byUsage: {}, byDomain: Object.fromEntries(Object.entries(byDomain).map(([d, v]) => [d, set(v)])) });
  const c = compareToBaselines(report(0.6, { zebra: 0.5, apple: 0.7 }), {
    backbone: 'b',
    featureDim: 10,
    pcaDim: 3,
    whitenedGallery: report(0.55, { zebra: 0.6, apple: 0.5 }),
    pca: report(0.9, { zebra: 0.1, apple: 0.9 }),
    raw: report(0.2, { zebra: 0.2, apple: 0.2 }),
    whitenedTrain: null,
  });
  expect(c.rows.map((r) => [r.group, r.queries, r.model, r.whitenedGallery, r.pca, r.whitenedTrain, r.loses])).toEqual([
    ['overall', 8, 0.6, 0.55, 0.9, null, false],
    ['apple', 4, 0.7, 0.5, 0.9, null, false],
    ['zebra', 4, 0.5, 0.6, 0.1, null, true],
  ]);
  expect(losingDomains(c)).toEqual(['zebra']);
  expect(formatBaselines(c).split('\n').pop()).toBe('warning: the model loses to a training-free whitened PCA on zebra (on the gallery)');
  // with the training whitening: apple now loses to it, zebra to both
  const t = compareToBaselines(report(0.6, { zebra: 0.5, apple: 0.7 }), {
    backbone: 'b', featureDim: 10, pcaDim: 3,
    whitenedGallery: report(0.55, { zebra: 0.6, apple: 0.5 }),
    pca: report(0.9, { zebra: 0.1, apple: 0.9 }),
    raw: report(0.2, { zebra: 0.2, apple: 0.2 }),
    whitenedTrain: { report: report(0.5, { zebra: 0.55, apple: 0.75 }), k: 3, rows: 40 },
  });
  expect(t.rows.map((r) => [r.group, r.whitenedTrain, r.loses])).toEqual([['overall', 0.5, false], ['apple', 0.75, true], ['zebra', 0.55, true]]);
  expect(t.train).toEqual({ k: 3, rows: 40 });
  expect(formatBaselines(t).split('\n').pop()).toBe('warning: the model loses to a training-free whitened PCA on apple (on the training data), zebra (on the training data and on the gallery)');
  expect(formatBaselines(t).split('\n')[1]).toMatch(/^group +queries +model whitened PCA-3 \(fitted on 40 training rows\) whitened PCA-3 \(fitted on the gallery\)/);
  expect(formatBaselines({ kind: 'skipped', reason: 'why' })).toBe('baselines: skipped: why');
});
