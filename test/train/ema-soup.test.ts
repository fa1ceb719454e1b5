/**
 * Weight EMA and L2-SP anchoring in the loop, and `guie soup`, on the real loop, real checkpoints and the real tfjs
 * backend: the averages follow avg = d_t·avg + (1-d_t)·w at every step (d_t warming up to d), `best` holds them, a resumed
 * run continues them bit for bit, and a soup is the exact mean of its checkpoints' weights.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/device';
import { listCheckpoints, loadCheckpoint, type NamedArray } from '../../lib/train/checkpoint';
import { train } from '../../lib/train/loop';
import { type Dataset, type TrainConfig } from '../../lib/train/train-config';
import { createModel, initHeadWeights, type HeadConfig } from '../../lib/train/model';
import { DEFAULT_TRAIN_CONFIG } from '../../lib/train/settings';
import { soupCheckpoints } from '../../lib/train/soup';
import { syntheticFeatures, type SyntheticConfig } from '../../lib/train/synthetic';

const SYN: SyntheticConfig = { classes: 8, perClass: 12, dim: 32, signalDim: 8, separation: 2, noise: 1, sources: ['a'], seed: 5 };
const HEAD: HeadConfig = { inputDim: SYN.dim, embeddingDim: 16, numClasses: SYN.classes, dropout: 0.1, margin: 'arcface', scale: 30, marginValue: 0.3 };
const D = 0.9;

function dataset(split: number, perClass: number): Dataset {
  const b = syntheticFeatures({ ...SYN, perClass }, split);
  return { size: b.labels.length, labels: b.labels, rows: (idx) => tf.tensor2d(Float32Array.from({ length: idx.length * SYN.dim }, (_, k) => b.features[idx[Math.floor(k / SYN.dim)] * SYN.dim + (k % SYN.dim)]), [idx.length, SYN.dim]) };
}

const cfg = (epochs: number): TrainConfig => ({ ...DEFAULT_TRAIN_CONFIG, seed: 3, batchSize: 16, lr: 1e-2, schedule: { kind: 'constant', warmupSteps: 0 }, stages: [{ name: 'head', epochs, train: '^head\\.' }], checkpointEvery: 1, keepLast: 1000, ema: D, progressMode: 'silent' });
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'guie-ema-'));
const get = (t: ReadonlyMap<string, NamedArray>, k: string) => t.get(k)!.values;

async function run(out: string, epochs: number, resume = false, extra: Partial<TrainConfig> = {}): Promise<void> {
  const model = createModel(HEAD, initHeadWeights(HEAD, 1));
  try {
    await train(model, { train: dataset(0, 12), val: dataset(1, 4) }, { ...cfg(epochs), ...extra }, { outDir: out, resume, log: () => undefined });
  } finally {
    model.dispose();
  }
}

beforeAll(async () => {
  await initBackend();
});

test('weight EMA: every step checkpoint satisfies the recurrence; validation and best use the averages; resume continues them exactly', async () => {
  const a = tmp();
  await run(a, 2);
  const steps = listCheckpoints(path.join(a, 'checkpoints')).map((d) => loadCheckpoint(d)).sort((x, y) => x.state.step - y.state.step);
  expect(steps.map((s) => s.state.step)).toEqual([...Array(12).keys()].map((i) => i + 1));
  expect(steps.length).toBe(12); // 96 rows / 16 = 6 steps an epoch, 2 epochs, one checkpoint a step
  const w = 'head.proj.weight';
  for (let i = 1; i < steps.length; i++) {
    const prev = get(steps[i - 1].tensors, `ema/${w}`);
    const now = get(steps[i].tensors, `ema/${w}`);
    const param = get(steps[i].tensors, `param/${w}`);
    const t = steps[i].state.step - 1; // the update's 0-based count
    const d = Math.min(D, (1 + t) / (10 + t)); // warm-up: 0.1, 0.18, ... then D
    let worst = 0;
    for (let j = 0; j < now.length; j++) worst = Math.max(worst, Math.abs(now[j] - (d * prev[j] + (1 - d) * param[j])));
    expect(worst).toBeLessThan(1e-6);
  }
  // the average really lags the weights (it is not a copy)
  const last = steps[steps.length - 1].tensors;
  expect(Math.max(...get(last, `ema/${w}`).map((v, j) => Math.abs(v - get(last, `param/${w}`)[j])))).toBeGreaterThan(1e-4);
  // `best` is an epoch end with the averaged weights as its parameters
  const best = loadCheckpoint(path.join(a, 'checkpoints', 'best'));
  const atBest = steps.find((s) => s.state.step === best.state.step)!;
  expect(Array.from(get(best.tensors, `param/${w}`))).toEqual(Array.from(get(atBest.tensors, `ema/${w}`)));

  // 1 epoch, then resumed to 2 (constant lr: the same schedule): bit-identical weights and averages
  const b = tmp();
  await run(b, 1);
  await run(b, 2, true);
  const endA = loadCheckpoint(listCheckpoints(path.join(a, 'checkpoints'))[0]).tensors; // newest first
  const endB = loadCheckpoint(listCheckpoints(path.join(b, 'checkpoints'))[0]).tensors;
  expect(loadCheckpoint(listCheckpoints(path.join(b, 'checkpoints'))[0]).state.step).toBe(12);
  for (const k of [`param/${w}`, `ema/${w}`, 'ema/head.margin.weight']) expect(Buffer.from(get(endB, k).buffer).equals(Buffer.from(get(endA, k).buffer))).toBe(true);
  fs.rmSync(a, { recursive: true, force: true });
  fs.rmSync(b, { recursive: true, force: true });
}, 120_000);

test('guie soup: the exact mean of the checkpoints, loadable as a checkpoint; other models are refused', async () => {
  const a = tmp();
  await run(a, 2);
  const ck = listCheckpoints(path.join(a, 'checkpoints'));
  const picks = [ck[0], ck[4], ck[8]];
  const out = path.join(a, 'soup');
  const r = soupCheckpoints(picks, out);
  expect(r.from).toEqual(picks);
  expect(r.averaged).toBe('ema'); // every step checkpoint of an ema run holds its averages: those are souped
  const soup = loadCheckpoint(out);
  const inputs = picks.map((d) => loadCheckpoint(d).tensors);
  for (const k of ['head.proj.weight', 'head.proj.bias', 'head.margin.weight']) {
    const v = get(soup.tensors, `param/${k}`);
    const worst = Math.max(...Array.from(v, (x, j) => Math.abs(x - (get(inputs[0], `ema/${k}`)[j] + get(inputs[1], `ema/${k}`)[j] + get(inputs[2], `ema/${k}`)[j]) / 3)));
    expect(worst).toBeLessThan(1e-7);
  }
  expect([...soup.tensors.keys()].every((k) => k.startsWith('param/'))).toBe(true); // no optimizer slots, no averages
  expect(soup.state.extra.soup).toEqual(picks);

  // a head of another width is another model
  const other = tmp();
  const model = createModel({ ...HEAD, embeddingDim: 8 }, initHeadWeights({ ...HEAD, embeddingDim: 8 }, 1));
  await train(model, { train: dataset(0, 12), val: null }, { ...cfg(1), ema: 0 }, { outDir: other, log: () => undefined, model: { backbone: 'x', preprocess: { imageSize: 1, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bilinear' }, head: { ...HEAD, embeddingDim: 8 }, data: { input: '', fingerprint: '', split: 'classes' }, featureKey: '' } });
  model.dispose();
  const plain = listCheckpoints(path.join(other, 'checkpoints'));
  const p = soupCheckpoints([plain[0], path.join(other, 'checkpoints', 'best')], path.join(other, 'soup'));
  expect(p.averaged).toBe('weights'); // trained without ema
  const [x, y, z] = [plain[0], path.join(other, 'checkpoints', 'best'), p.dir].map((d) => get(loadCheckpoint(d).tensors, 'param/head.proj.weight'));
  expect(Math.max(...Array.from(z, (v, j) => Math.abs(v - (x[j] + y[j]) / 2)))).toBeLessThan(1e-7);
  expect(() => soupCheckpoints([picks[0], path.join(other, 'checkpoints', 'best')], path.join(a, 'soup2'))).toThrow(/soup: .* is another model \(backbone x/);
  expect(() => soupCheckpoints([picks[0]], path.join(a, 'soup3'))).toThrow(/at least two checkpoints/);
  expect(() => soupCheckpoints([picks[0], picks[1]], picks[0])).toThrow(/is one of the inputs/);
  fs.rmSync(a, { recursive: true, force: true });
  fs.rmSync(other, { recursive: true, force: true });
}, 120_000);

test('L2-SP anchoring: w0 is the stage start (checkpointed), the weights drift less the stronger the anchor, resume is exact', async () => {
  const drift = async (anchor: number): Promise<number> => {
    const out = tmp();
    await run(out, 2, false, { ema: 0, anchor });
    const last = loadCheckpoint(listCheckpoints(path.join(out, 'checkpoints'))[0]).tensors;
    const w0 = initHeadWeights(HEAD, 1).projWeight;
    if (anchor > 0) expect(Array.from(get(last, 'anchor/head.proj.weight'))).toEqual(Array.from(w0)); // w0 = the weights the stage began with
    else expect(last.has('anchor/head.proj.weight')).toBe(false);
    const w = get(last, 'param/head.proj.weight');
    fs.rmSync(out, { recursive: true, force: true });
    return Math.sqrt(w.reduce((a, v, j) => a + (v - w0[j]) ** 2, 0));
  };
  const [free, mild, strong] = [await drift(0), await drift(1), await drift(100)];
  expect(mild).toBeLessThan(free);
  expect(strong).toBeLessThan(mild * 0.5);
  // 1 epoch, then resumed to 2 with the anchor: bit-identical to the uninterrupted run
  const a = tmp();
  const b = tmp();
  await run(a, 2, false, { ema: 0, anchor: 1 });
  await run(b, 1, false, { ema: 0, anchor: 1 });
  await run(b, 2, true, { ema: 0, anchor: 1 });
  const [ea, eb] = [a, b].map((d) => loadCheckpoint(listCheckpoints(path.join(d, 'checkpoints'))[0]).tensors);
  expect(Buffer.from(get(eb, 'param/head.proj.weight').buffer).equals(Buffer.from(get(ea, 'param/head.proj.weight').buffer))).toBe(true);
  fs.rmSync(a, { recursive: true, force: true });
  fs.rmSync(b, { recursive: true, force: true });
}, 120_000);
