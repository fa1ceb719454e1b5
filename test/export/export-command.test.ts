/** `guie export` end to end: backbone + head from a training checkpoint -> SavedModel, ONNX, zip that verifies. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { exportCommand, formatExportResult } from '../../lib/export/export-model';
import { readSavedModel } from '../../lib/export/savedmodel';
import { checkpointHead, loadCheckpoint, saveCheckpoint } from '../../lib/train/checkpoint';
import { Rng } from '../../lib/util/random';
import { createExportEmbedder, engineFromEnv } from '../../lib/export/onnx-embedder';
import { loadBackbone } from '../../lib/model/backbones';
import { readTrainWhitening, TRAIN_WHITENING, writeTrainWhitening } from '../../lib/retrieval/train-whitening';

let root: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-export-cmd-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A head checkpoint in the first export format's layout (Keras Dense: `head.kernel` [in, dim]), or in the training layout (`head.proj.weight` [dim, in]) of the same values. */
function checkpointWithHead(inDim: number, dim: number, layout: 'keras' | 'training' = 'keras'): { dir: string; kernel: Float32Array } {
  const r = new Rng(9);
  const kernel = Float32Array.from({ length: inDim * dim }, () => r.float() - 0.5);
  const bias = new Float32Array(dim).fill(0.01);
  const weight = Float32Array.from({ length: inDim * dim }, (_, i) => kernel[(i % inDim) * dim + Math.floor(i / inDim)]);
  const tensors = new Map(
    layout === 'keras'
      ? [['param/head.kernel', { shape: [inDim, dim], values: kernel }], ['param/head.bias', { shape: [dim], values: bias }]]
      : [['param/head.proj.weight', { shape: [dim, inDim], values: weight }], ['param/head.proj.bias', { shape: [dim], values: bias }], ['param/head.margin.weight', { shape: [3, dim], values: new Float32Array(3 * dim).fill(0.5) }]],
  );
  const state = { step: 10, epoch: 1, batchInEpoch: 0, rng: { s: [1, 2, 3, 4] } as never, optimizer: { kind: 'adamw', step: 10 }, best: null, extra: {} };
  const dir = saveCheckpoint(path.join(root, `ckpts-${layout}`), 'ckpt-000000010', state, tensors);
  return { dir, kernel };
}

it('the one reader gives a checkpoint of the old Keras layout in the training layout, as the same weights written in it', () => {
  const keras = checkpointHead(loadCheckpoint(checkpointWithHead(32, 64, 'keras').dir), 32);
  const training = checkpointHead(loadCheckpoint(checkpointWithHead(32, 64, 'training').dir), 32);
  expect(keras.weight.shape).toEqual([64, 32]);
  expect(Array.from(keras.weight.values)).toEqual(Array.from(training.weight.values));
  expect(Array.from(keras.bias.values)).toEqual(Array.from(training.bias.values));
  expect(keras.margin).toBeNull();
  expect(training.margin!.shape).toEqual([3, 64]);
});

it.each(['keras', 'training'] as const)('exports a ViT with the checkpoint head (%s layout); the zip verifies and the SavedModel holds the checkpoint values', async (layout) => {
  const { dir, kernel } = checkpointWithHead(32, 64, layout);
  const out = path.join(root, `out-${layout}`);
  const { result, report } = await exportCommand({ backbone: 'test-tiny', out, checkpoint: dir, verify: true });
  expect(report?.ok).toBe(true);
  expect(formatExportResult(result)).toMatch(/SavedModel: .*\nONNX: .*\nsubmission: .*submission\.zip/);
  const { graph } = readSavedModel(path.join(out, 'saved_model'));
  const head = graph.nodes.find((n) => n.name === 'head.kernel')!;
  expect(Array.from((head.attrs.value as { tensor: { data: Float32Array } }).tensor.data)).toEqual(Array.from(kernel));
  expect(fs.existsSync(path.join(out, 'model.onnx'))).toBe(true);
});

it('names the checkpoint and the mismatch when the head does not fit the backbone', async () => {
  const { dir } = checkpointWithHead(48, 64);
  await expect(exportCommand({ backbone: 'test-tiny', out: path.join(root, 'bad'), checkpoint: dir })).rejects.toThrow(/ckpt-000000010: the head takes 48-d features \(weight \[64,48\]\) but backbone test-tiny gives 32-d features; pass the --backbone it was trained on/);
});

it('names the known backbones when the name is unknown', async () => {
  await expect(exportCommand({ backbone: 'resnet-9000', out: path.join(root, 'x') })).rejects.toThrow(/unknown ViT config "resnet-9000" \(known: .*test-tiny/);
});

it('the engine switch gives the same embeddings from ONNX Runtime and from the SavedModel run by tfjs', async () => {
  const out = path.join(root, 'engines');
  await exportCommand({ backbone: 'test-tiny', out, resize: 'shortest_bicubic_crop' });
  const pp = { imageSize: 32, mean: [0.48145466, 0.4578275, 0.40821073] as [number, number, number], std: [0.26862954, 0.26130258, 0.27577711] as [number, number, number], resize: 'shortest_bicubic_crop' as const };
  const images = [{ data: new Uint8Array(40 * 25 * 3).map((_, i) => (i * 37) % 256), width: 40, height: 25 }];
  const a = await createExportEmbedder(engineFromEnv({ GUIE_ENGINE: 'onnxruntime' }), { onnxFile: path.join(out, 'model.onnx') }, pp);
  const b = await createExportEmbedder(engineFromEnv({ GUIE_ENGINE: 'tfjs' }), { savedModelDir: path.join(out, 'saved_model') }, pp);
  const [va, vb] = [await a.embed(images), await b.embed(images)];
  expect(va.length).toBe(64);
  expect(va.reduce((m, v, i) => Math.max(m, Math.abs(v - vb[i])), 0)).toBeLessThan(1e-4);
  a.dispose();
  b.dispose();
  expect(() => engineFromEnv({ GUIE_ENGINE: 'torch' })).toThrow(/GUIE_ENGINE="torch": choose onnxruntime or tfjs/);
});

it('the GeM MobileNetV2 exports with its pooling inside: ONNX Runtime, the SavedModel in tfjs and the tfjs backbone + the checkpoint head agree', async () => {
  const { dir, kernel } = checkpointWithHead(1792, 64);
  const out = path.join(root, 'gem');
  await exportCommand({ backbone: 'mobilenet_v2_140_gem', out, checkpoint: dir });
  const pp = { imageSize: 224, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number], resize: 'bilinear' as const };
  const images = [0, 1].map((s) => ({ data: new Uint8Array(224 * 224 * 3).map((_, i) => (i * (37 + s * 14) + ((i / 672) | 0) * 11) % 256), width: 224, height: 224 }));
  const a = await createExportEmbedder(engineFromEnv({ GUIE_ENGINE: 'onnxruntime' }), { onnxFile: path.join(out, 'model.onnx') }, pp);
  const b = await createExportEmbedder(engineFromEnv({ GUIE_ENGINE: 'tfjs' }), { savedModelDir: path.join(out, 'saved_model') }, pp);
  const [va, vb] = [await a.embed(images), await b.embed(images)];
  a.dispose();
  b.dispose();
  // the training side: the GeM backbone in tfjs, the head's kernel and bias, L2
  const backbone = await loadBackbone('mobilenet_v2_140_gem', { log: () => undefined });
  const ref = tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(images.flatMap((im) => Array.from(im.data, (v) => v / 255))), [2, 224, 224, 3]);
    const e = tf.add(tf.matMul(backbone.features(x), tf.tensor2d(kernel, [1792, 64])), 0.01);
    return e.div(e.norm('euclidean', 1, true)).dataSync();
  });
  backbone.dispose();
  expect(va.length).toBe(128);
  expect(va.reduce((m, v, i) => Math.max(m, Math.abs(v - vb[i])), 0)).toBeLessThan(1e-4);
  expect(va.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0)).toBeLessThan(1e-4);
}, 300_000);

it("export carries the run's training whitening beside the model, never another run's, and drops a stale one", async () => {
  // a run folder: run.json, train-whitening.json, checkpoints/ckpt-1 whose state records the run's features
  const run = path.join(root, 'run-w');
  const r = new Rng(4);
  const pca = { dim: 32, k: 4, mean: Float32Array.from({ length: 32 }, () => r.float()), components: Float32Array.from({ length: 128 }, () => r.float() - 0.5), variances: Float32Array.from([4, 3, 2, 1]) };
  const ckpt = (featureKey: string) => {
    const tensors = new Map([
      ['param/head.proj.weight', { shape: [64, 32], values: Float32Array.from({ length: 32 * 64 }, () => r.float() - 0.5) }],
      ['param/head.proj.bias', { shape: [64], values: new Float32Array(64) }],
    ]);
    const model = { backbone: 'test-tiny', preprocess: { imageSize: 32, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bilinear' }, head: { inputDim: 32 }, data: { input: 'x', fingerprint: 'f', split: 'classes' }, featureKey };
    const state = { step: 1, epoch: 1, batchInEpoch: 0, rng: { s: [1, 2, 3, 4] } as never, optimizer: { kind: 'adamw', step: 1 }, best: null, extra: { model } };
    return saveCheckpoint(path.join(run, 'checkpoints'), `ckpt-00000000${featureKey === 'k1' ? 1 : 2}`, state, tensors);
  };
  fs.mkdirSync(run, { recursive: true });
  fs.writeFileSync(path.join(run, 'run.json'), '{}');
  writeTrainWhitening(run, { backbone: 'test-tiny', rows: 40, featureKey: 'k1', pca });
  const out = path.join(root, 'export-w');
  await exportCommand({ out, checkpoint: ckpt('k1'), onnx: false });
  const carried = readTrainWhitening(out)!;
  expect(carried).toMatchObject({ backbone: 'test-tiny', rows: 40, featureKey: 'k1' });
  expect(Array.from(carried.pca.components)).toEqual(Array.from(pca.components));
  // a checkpoint trained on other features (another run's) does not take it, and the old copy beside the export goes
  await exportCommand({ out, checkpoint: ckpt('k2'), onnx: false });
  expect(fs.existsSync(path.join(out, TRAIN_WHITENING))).toBe(false);
  // a whitening above the run's root (run.json) is never looked at
  fs.rmSync(path.join(run, TRAIN_WHITENING));
  writeTrainWhitening(root, { backbone: 'test-tiny', rows: 9, featureKey: 'k1', pca });
  await exportCommand({ out, checkpoint: ckpt('k1'), onnx: false });
  expect(fs.existsSync(path.join(out, TRAIN_WHITENING))).toBe(false);
  fs.rmSync(path.join(root, TRAIN_WHITENING));
}, 120_000);
