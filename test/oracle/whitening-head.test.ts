/**
 * The whitening head (config headInit "whitening") against scikit-learn's PCA(whiten=True): the
 * whitening map equals sklearn's transform within 1e-5, the untrained head embeds as its unit
 * rows, and that head exported on the real MobileNetV2 gives, in real TensorFlow, the unit
 * whitened rows of the backbone's features.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { decodeRgb, normalizeRgb, resizeForModel } from '../../lib/data/image';
import { initBackend } from '../../lib/device';
import { buildExportGraph, exportModel } from '../../lib/export/export-model';
import { loadBackbone } from '../../lib/model/backbones';
import { PACKAGED_CNNS } from '../../lib/model/cnn/registry';
import { applyPca, fitPca } from '../../lib/retrieval/pca';
import { saveCheckpoint } from '../../lib/train/checkpoint';
import { whiteningHeadWeights } from '../../lib/train/head-init';
import { createModel, type HeadConfig } from '../../lib/train/model';
import { Rng } from '../../lib/util/random';
import { sharedCacheDir } from '../backbones/helpers';
import { classFolders } from '../helpers/photos';
import { runPythonJson } from './python';

const SCRIPT = path.join(__dirname, 'retrieval_pca.py');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-whiten-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Sk {
  transformed: number[][];
}

const unit = (v: number[]): number[] => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

beforeAll(async () => {
  await initBackend();
});

test('whitening map and the untrained whitening head = scikit-learn PCA(whiten=True) (+ L2) within 1e-5', async () => {
  // a well-separated spectrum (12 directions of falling variance + small noise) so subspace iteration converges
  const [n, d, k] = [400, 96, 8];
  const rng = new Rng(3);
  const dirs = Array.from({ length: 12 }, () => Array.from({ length: d }, () => rng.normal()));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 12; j++) {
      const c = rng.normal() * (12 - j);
      for (let t = 0; t < d; t++) x[i * d + t] += c * dirs[j][t];
    }
    for (let t = 0; t < d; t++) x[i * d + t] += 0.01 * rng.normal() + 0.5;
  }
  const sk = runPythonJson<Sk>(SCRIPT, [], JSON.stringify({ x: Array.from(x), n, d, k, whiten: true }));
  const ours = applyPca(fitPca(x, d, k, { seed: 1 }), x, false, true);
  let worst = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) worst = Math.max(worst, Math.abs(ours[i * k + j] - sk.transformed[i][j]));
  expect(worst).toBeLessThan(1e-5); // measured 7.2e-6

  const labels = Int32Array.from({ length: n }, (_, i) => i % 5);
  const head: HeadConfig = { inputDim: d, embeddingDim: k, numClasses: 5, dropout: 0.2, margin: 'arcface', scale: 30, marginValue: 0.3 };
  const model = createModel(head, whiteningHeadWeights(head, x, labels, 1));
  const e = model.embed(tf.tensor2d(x, [n, d]));
  const emb = e.dataSync();
  e.dispose();
  model.dispose();
  worst = 0;
  for (let i = 0; i < n; i++) {
    const ref = unit(sk.transformed[i]);
    for (let j = 0; j < k; j++) worst = Math.max(worst, Math.abs(emb[i * k + j] - ref[j]));
  }
  expect(worst).toBeLessThan(1e-5);
  expect(() => whiteningHeadWeights({ ...head, embeddingDim: 64 }, x.subarray(0, 40 * d), labels.subarray(0, 40), 1)).toThrow(/40 training rows give at most 39 principal axes, the head has 64 outputs/);
}, 120_000);

test('a whitening head trained 0 steps, exported on MobileNetV2, gives in real TensorFlow the unit whitened features', async () => {
  const photos = path.join(tmp, 'photos');
  await classFolders(photos, 40, 2, 300, 160);
  const files = fs.readdirSync(photos).flatMap((c) => fs.readdirSync(path.join(photos, c)).map((f) => path.join(photos, c, f)));
  const pp = PACKAGED_CNNS.mobilenet_v2_140.preprocess;
  const images = await Promise.all(files.map(async (f) => resizeForModel(await decodeRgb(fs.readFileSync(f)), pp)));
  const backbone = await loadBackbone('mobilenet_v2_140', { cacheDir: sharedCacheDir() });
  const s = pp.imageSize;
  const buf = new Float32Array(images.length * s * s * 3);
  images.forEach((im, i) => normalizeRgb(im, pp, buf, i * s * s * 3));
  const x = tf.tensor4d(buf, [images.length, s, s, 3]);
  const f = backbone.features(x);
  const features = f.dataSync() as Float32Array;
  tf.dispose([x, f]);
  backbone.dispose();
  const [n, d, k] = [images.length, 1792, 16];
  const head: HeadConfig = { inputDim: d, embeddingDim: k, numClasses: 40, dropout: 0, margin: 'arcface', scale: 30, marginValue: 0.3 };
  const w = whiteningHeadWeights(head, features, Int32Array.from({ length: n }, (_, i) => Math.floor(i / 2)), 1);
  const model = { backbone: 'mobilenet_v2_140', preprocess: pp, head, data: { input: photos, fingerprint: '', split: 'classes' }, featureKey: '' };
  const ckpt = saveCheckpoint(tmp, 'whitening', { step: 0, epoch: 0, batchInEpoch: 0, rng: new Rng(1).state(), optimizer: { kind: 'adamw', step: 0 }, best: null, extra: { model } }, new Map([
    ['param/head.proj.weight', { shape: [k, d], values: w.projWeight }],
    ['param/head.proj.bias', { shape: [k], values: w.projBias }],
    ['param/head.margin.weight', { shape: [40, k], values: w.marginWeight }],
  ]));
  const exp = await exportModel((await buildExportGraph({ checkpoint: ckpt })).graph, path.join(tmp, 'export'));
  const batchFile = path.join(tmp, 'batch.bin');
  const some = images.slice(0, 6);
  fs.writeFileSync(batchFile, Buffer.concat(some.map((im) => Buffer.from(im.data))));
  const out = runPythonJson<{ embedding: number[][] }>(path.join(__dirname, 'export_tf_load.py'), [exp.zip!.file, batchFile, `${some.length},${s},${s},3`]);
  // the reference: scikit-learn's whitening of the same backbone features, unit length
  const sk = runPythonJson<Sk>(SCRIPT, [], JSON.stringify({ x: Array.from(features), n, d, k, whiten: true, apply: Array.from(features.subarray(0, some.length * d)) }));
  let worst = 0;
  for (let i = 0; i < some.length; i++) {
    const ref = unit(sk.transformed[i]);
    for (let j = 0; j < k; j++) worst = Math.max(worst, Math.abs(out.embedding[i][j] - ref[j]));
  }
  // TF's backbone vs tfjs's (float32 round-off) is amplified along the low-variance whitened axes: measured 3.0e-5
  expect(worst).toBeLessThan(2e-4);
}, 300_000);
