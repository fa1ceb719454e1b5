/** Checkpoints and feature caches under interruption and damage; NaN stop; staged training; accumulation. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../lib/device';
import { checkpointName, latestCheckpoint, listCheckpoints, loadCheckpoint, pruneCheckpoints, saveCheckpoint, CheckpointState, NamedArray } from '../../lib/train/checkpoint';
import { buildFeatureCache, cacheDataset, FeatureBatch, loadFeatureCache } from '../../lib/train/feature-cache';
import { train } from '../../lib/train/loop';
import { Dataset, stagedRecipe, TrainConfig, TrainingDivergedError } from '../../lib/train/train-config';
import { DEFAULT_TRAIN_CONFIG } from '../../lib/train/settings';
import { Backbone, createModel, HeadConfig, initHeadWeights } from '../../lib/train/model';
import { Rng } from '../../lib/util/random';
import { syntheticFeatures } from '../../lib/train/synthetic';

let tmp: string;
beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-ckpt-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const STATE: CheckpointState = { step: 7, epoch: 1, batchInEpoch: 3, rng: [1, 2, 3, 4], optimizer: { kind: 'adamw', step: 7 }, best: null, extra: { stage: 0 } };
const tensors = (v: number) => new Map<string, NamedArray>([['param/a', { shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, v]) }], ['exp_avg/a', { shape: [2, 3], values: new Float32Array(6).fill(v) }]]);

test('checkpoints round-trip, a damaged newest one is skipped, leftovers and old ones are pruned', () => {
  const root = path.join(tmp, 'ck');
  saveCheckpoint(root, checkpointName(7), STATE, tensors(6));
  saveCheckpoint(root, checkpointName(9), { ...STATE, step: 9 }, tensors(9));
  const c = loadCheckpoint(path.join(root, checkpointName(7)));
  expect(c.state).toEqual(STATE);
  expect([...c.tensors.get('param/a')!.values]).toEqual([1, 2, 3, 4, 5, 6]);
  // flip one byte of the newest: CRC32C catches it and the previous one is used
  const bin = path.join(root, checkpointName(9), 'tensors.bin');
  const bytes = fs.readFileSync(bin);
  bytes[5] ^= 0xff;
  fs.writeFileSync(bin, bytes);
  const warnings: string[] = [];
  expect(latestCheckpoint(root, (m) => warnings.push(m))!.state.step).toBe(7);
  expect(warnings[0]).toMatch(/ckpt-000000009: .*CRC32C mismatch/);
  // a temporary directory of a killed writer (pid 1) is not a checkpoint and gets cleared
  fs.mkdirSync(path.join(root, '.ckpt-000000011.tmp-1'));
  expect(listCheckpoints(root).map((d) => path.basename(d))).toEqual([checkpointName(9), checkpointName(7)]);
  saveCheckpoint(root, checkpointName(12), { ...STATE, step: 12 }, tensors(12));
  pruneCheckpoints(root, 2);
  expect(fs.readdirSync(root).sort()).toEqual([checkpointName(9), checkpointName(12)]);
});

const DIM = 8;
function batchFor(all: FeatureBatch, s: number, n: number): FeatureBatch {
  return { features: all.features.slice(s * DIM, (s + n) * DIM), labels: all.labels.slice(s, s + n), sources: all.sources.slice(s, s + n) };
}

test('feature cache: an interrupted build resumes to the same bytes; unfinished caches are refused; stale ones are rebuilt', async () => {
  const all = syntheticFeatures({ classes: 5, perClass: 10, dim: DIM, signalDim: 2, separation: 1, noise: 1, sources: ['x', 'y'], seed: 1 }, 0);
  const opts = (dir: string) => ({ dir, dim: DIM, total: 50, key: 'k1', batchSize: 8, progressMode: 'silent' as const });
  const whole = path.join(tmp, 'whole');
  await buildFeatureCache({ ...opts(whole), produce: async (s, n) => batchFor(all, s, n) });

  const part = path.join(tmp, 'part');
  let calls = 0;
  await expect(buildFeatureCache({ ...opts(part), produce: async (s, n) => { if (++calls === 3) throw new Error('killed'); return batchFor(all, s, n); } })).rejects.toThrow('killed');
  expect(() => loadFeatureCache(part)).toThrow(/incomplete \(16\/50 rows\)/);
  // bytes appended after the last meta update (a kill between append and rename) are cut back
  fs.appendFileSync(path.join(part, 'features.f32'), new Uint8Array(4 * DIM * 3));
  const resumedFrom: number[] = [];
  await buildFeatureCache({ ...opts(part), produce: async (s, n) => { resumedFrom.push(s); return batchFor(all, s, n); } });
  expect(resumedFrom[0]).toBe(16);
  for (const f of ['features.f32', 'labels.i32', 'sources.i32']) expect(fs.readFileSync(path.join(part, f)).equals(fs.readFileSync(path.join(whole, f)))).toBe(true);
  const c = loadFeatureCache(part);
  expect(c.count).toBe(50);
  expect(c.sourceNames.sort()).toEqual(['x', 'y']);
  expect([...c.labels]).toEqual([...all.labels]);
  // a cache made from other inputs is rebuilt from row 0, never extended
  const told: string[] = [];
  const other = { features: all.features.map((v) => v + 1), labels: all.labels, sources: all.sources };
  const rebuiltFrom: number[] = [];
  const meta = await buildFeatureCache({ ...opts(part), key: 'other', onStale: (m) => told.push(m), produce: async (s, n) => { rebuiltFrom.push(s); return batchFor(other, s, n); } });
  expect(told).toEqual([`${part}: feature cache is stale (part 0: k1 -> other): rebuilding it`]);
  expect([rebuiltFrom[0], meta.key, meta.done]).toEqual([0, 'other', 50]);
  expect(Array.from(loadFeatureCache(part).features)).toEqual(Array.from(other.features));
});

const HEAD: HeadConfig = { inputDim: 16, embeddingDim: 8, numClasses: 6, dropout: 0, margin: 'arcface', scale: 16, marginValue: 0.2 };
const CFG: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, batchSize: 8, lr: 1e-2, stages: [{ name: 'head', epochs: 2, train: '^head\\.' }], checkpointEvery: 3, progressMode: 'silent' };
function synth(seed: number): Dataset {
  const b = syntheticFeatures({ classes: 6, perClass: 8, dim: 16, signalDim: 4, separation: 2, noise: 1, sources: ['s'], seed }, 0);
  return cacheDataset({ dir: '', dim: 16, count: b.labels.length, features: b.features, labels: b.labels, sources: new Int32Array(b.labels.length), sourceNames: ['s'] });
}

test('a NaN loss stops training with a clear message and keeps the last good checkpoint', async () => {
  const out = path.join(tmp, 'nan');
  const model = createModel(HEAD, initHeadWeights(HEAD, 1));
  const clean = synth(2);
  let calls = 0;
  // the 5th batch comes back with a NaN feature (a corrupt record), after the checkpoint at step 3
  const poisoned: Dataset = { ...clean, rows: (idx) => (++calls === 5 ? tf.fill([idx.length, 16], NaN) : clean.rows(idx)) };
  const err = await train(model, { train: poisoned, val: null }, CFG, { outDir: out, log: () => {} }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TrainingDivergedError);
  const ckpts = listCheckpoints(path.join(out, 'checkpoints'));
  expect(ckpts.length).toBeGreaterThan(0);
  expect((err as Error).message).toMatch(new RegExp(`loss is NaN at epoch 1, batch 5 \\(after 4 optimizer steps\\).*Last good checkpoint: ${ckpts[0].replace(/[/.]/g, '\\$&')}`));
  expect(path.basename(ckpts[0])).toBe(checkpointName(3));
  const good = loadCheckpoint(ckpts[0]);
  for (const t of good.tensors.values()) expect(t.values.every(Number.isFinite)).toBe(true);
  model.dispose();
});

test('gradient accumulation 2 x 4 rows gives the weights of plain batches of 8', async () => {
  const run = async (batchSize: number, accumSteps: number) => {
    const model = createModel(HEAD, initHeadWeights(HEAD, 3));
    await train(model, { train: synth(4), val: null }, { ...CFG, batchSize, accumSteps }, { outDir: path.join(tmp, `acc-${batchSize}`), log: () => {} });
    const w = model.params.map((p) => p.variable.dataSync() as Float32Array);
    model.dispose();
    return w;
  };
  const a = await run(8, 1);
  const b = await run(4, 2);
  let max = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) max = Math.max(max, Math.abs(a[i][j] - b[i][j]));
  expect(max).toBeLessThan(1e-5); // same maths, float rounding of summing two halves
  expect(max).toBeGreaterThanOrEqual(0);
});

test('staged recipe: stage 1 trains the head only, stage 2 the backbone (+ margin) with the projection frozen', async () => {
  const rng = new Rng(8);
  const w0 = tf.variable(tf.tensor2d(Float32Array.from({ length: 16 * 16 }, () => rng.normal() * 0.25), [16, 16]));
  const w1 = tf.variable(tf.tensor2d(Float32Array.from({ length: 16 * 16 }, () => rng.normal() * 0.25), [16, 16]));
  const backbone: Backbone = {
    outputDim: 16,
    params: [{ name: 'backbone.blocks.0.weight', variable: w0 }, { name: 'backbone.blocks.1.weight', variable: w1 }],
    forward: (x) => tf.tidy(() => tf.matMul(tf.relu(tf.matMul(x as tf.Tensor2D, w0)), w1)),
  };
  const model = createModel(HEAD, initHeadWeights(HEAD, 5), backbone);
  const snap = () => new Map(model.params.map((p) => [p.name, Float32Array.from(p.variable.dataSync())]));
  const changed = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) => [...a.keys()].filter((k) => a.get(k)!.some((v, i) => v !== b.get(k)![i])).sort();
  const s0 = snap();
  const epochs: string[] = [];
  const cfg: TrainConfig = { ...CFG, stages: stagedRecipe(1, 0), backboneLr: 1e-3, layerDecay: 0.5, numLayers: 2 };
  await train(model, { train: synth(6), val: null }, cfg, { outDir: path.join(tmp, 'stage1'), log: () => {} });
  const s1 = snap();
  expect(changed(s0, s1)).toEqual(['head.margin.weight', 'head.proj.bias', 'head.proj.weight']);
  await train(model, { train: synth(6), val: null }, { ...cfg, stages: [{ ...stagedRecipe(1, 1)[1] }] }, { outDir: path.join(tmp, 'stage2'), log: () => {}, onEpoch: (r) => epochs.push(r.stage) });
  const s2 = snap();
  expect(changed(s1, s2)).toEqual(['backbone.blocks.0.weight', 'backbone.blocks.1.weight', 'head.margin.weight']);
  expect(epochs).toEqual(['backbone']);
  // the trained projection is model/heads.ts's EmbeddingHead over the model's own variables: what evaluation scores
  expect(model.params.find((p) => p.name === 'head.proj.weight')!.variable).toBe(model.head.weight);
  const x = tf.randomNormal([3, 16]) as tf.Tensor2D;
  expect(Array.from(model.head.forward(backbone.forward(x)).dataSync())).toEqual(Array.from(model.embed(x).dataSync()));
  model.dispose();
});
