/**
 * Oracle: MarginHead logits, softmaxCrossEntropy, the fused MarginHead.loss and their gradients vs a PyTorch float64
 * reference written from insightface's ArcMarginProduct / the CosFace and sub-center ArcFace
 * papers (margin_oracle.py). Tolerance: 1e-4 relative to the largest reference value (float32 here).
 */
import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { MarginHead, dynamicMargins, type MarginConfig } from '../../lib/model/margins';
import { softmaxCrossEntropy } from '../../lib/model/loss';
import { runPythonJson } from './python';

const SCRIPT = path.join(__dirname, 'margin_oracle.py');
const TOL = 1e-4;

interface Ref {
  logits: number[];
  loss: number;
  gradX: number[];
  gradW: number[];
}

function rel(ours: ArrayLike<number>, ref: number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs(ours[i] - ref[i]));
    den = Math.max(den, Math.abs(ref[i]));
  }
  expect(ours.length).toBe(ref.length);
  return num / den;
}

/** Deterministic pseudo-random values so both sides see the same inputs. */
function values(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 30 - 1;
  });
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const B = 6;
const D = 8;
const C = 5;
const cases: Array<{ name: string; cfg: Omit<MarginConfig, 'numClasses' | 'dim'>; labelSmoothing: number; pull?: boolean }> = [
  { name: 'ArcFace s=30 m=0.5', cfg: { kind: 'arcface', s: 30, m: 0.5 }, labelSmoothing: 0 },
  // target rows pulled to the opposite side of their centre so θ+m > π hits the insightface fallback
  { name: 'ArcFace fallback branch (θ > π−m), label smoothing 0.1', cfg: { kind: 'arcface', s: 30, m: 0.8 }, labelSmoothing: 0.1, pull: true },
  { name: 'ArcFace easy margin', cfg: { kind: 'arcface', s: 16, m: 0.3, easyMargin: true }, labelSmoothing: 0, pull: true },
  { name: 'CosFace s=30 m=0.6', cfg: { kind: 'cosface', s: 30, m: 0.6 }, labelSmoothing: 0.05 },
  { name: 'sub-center ArcFace k=3', cfg: { kind: 'arcface', s: 30, m: 0.5, k: 3 }, labelSmoothing: 0 },
  { name: 'per-class dynamic margins', cfg: { kind: 'arcface', s: 30, m: dynamicMargins([1, 4, 16, 64, 256]) }, labelSmoothing: 0 },
];

/** The inputs of one case: identical numbers go to PyTorch and to tfjs. */
function inputs(c: (typeof cases)[number]) {
  const k = c.cfg.k ?? 1;
  const labels = [0, 1, 2, 3, 4, 2];
  const W = values(C * k * D, 7);
  let x = values(B * D, 11);
  if (c.pull) x = x.map((v, i) => v - 3 * W[labels[Math.floor(i / D)] * k * D + (i % D)]);
  return { k, labels, W, x };
}

let refs: Ref[] = [];
const worst: Record<string, number> = {};
afterAll(() => console.log('margin oracle max relative errors:', JSON.stringify(worst, null, 1)));
beforeAll(() => {
  // one Python process for all cases (importing torch dominates the cost)
  const batch = cases.map((c) => ({ ...c.cfg, ...inputs(c), batch: B, dim: D, classes: C, labelSmoothing: c.labelSmoothing }));
  refs = runPythonJson<Ref[]>(SCRIPT, [], JSON.stringify(batch));
});

test.each(cases.map((c, i) => ({ ...c, i })))('$name: logits, loss and gradients match the PyTorch reference', (c) => {
  const { cfg, labelSmoothing, i } = c;
  const ref = refs[i];
  const { k, labels, W, x } = inputs(c);
  const head = new MarginHead({ ...cfg, numClasses: C, dim: D }, tf.tensor2d(W, [C * k, D]));
  const xt = tf.tensor2d(x, [B, D]);
  const lt = tf.tensor1d(labels, 'int32');
  if (c.pull) {
    // the case really exercises the other branch: some target angle is beyond the threshold
    const cosT = tf.sum(tf.mul(head.cosine(xt), tf.oneHot(lt, C)), 1).dataSync();
    const m = typeof cfg.m === 'number' ? cfg.m : 0;
    expect(Math.min(...cosT)).toBeLessThan(cfg.easyMargin ? 0 : Math.cos(Math.PI - m));
  }
  const logits = head.forward(xt, lt);
  const loss = softmaxCrossEntropy(logits, lt, labelSmoothing);
  const { grads } = tf.variableGrads(() => softmaxCrossEntropy(head.forward(xt, lt), lt, labelSmoothing), [head.weight]);
  const gx = tf.grad((xx: tf.Tensor) => softmaxCrossEntropy(head.forward(xx as tf.Tensor2D, lt), lt, labelSmoothing))(xt);

  const errs = {
    logits: rel(logits.dataSync(), ref.logits),
    loss: Math.abs(loss.dataSync()[0] - ref.loss) / Math.abs(ref.loss),
    gradW: rel(grads[head.weight.name].dataSync(), ref.gradW),
    gradX: rel(gx.dataSync(), ref.gradX),
  };
  worst[c.name] = Math.max(...Object.values(errs));
  for (const e of Object.values(errs)) expect(e).toBeLessThan(TOL);
  tf.dispose([xt, lt, logits, loss, gx, ...Object.values(grads)]);
  head.dispose();
});

// the fused training loss (margin-loss.ts: one op with its gradient written out) against the same references
test.each(cases.map((c, i) => ({ ...c, i })))('$name: the fused MarginHead.loss and its gradients match the PyTorch reference', (c) => {
  const { cfg, labelSmoothing, i } = c;
  const ref = refs[i];
  const { k, labels, W, x } = inputs(c);
  const head = new MarginHead({ ...cfg, numClasses: C, dim: D }, tf.tensor2d(W, [C * k, D]));
  const xt = tf.tensor2d(x, [B, D]);
  const lt = tf.tensor1d(labels, 'int32');
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => head.loss(xt, lt, labelSmoothing), [head.weight]);
  const gx = tf.grad((xx: tf.Tensor) => head.loss(xx as tf.Tensor2D, lt, labelSmoothing))(xt);
  const errs = {
    loss: Math.abs(value.dataSync()[0] - ref.loss) / Math.abs(ref.loss),
    gradW: rel(grads[head.weight.name].dataSync(), ref.gradW),
    gradX: rel(gx.dataSync(), ref.gradX),
  };
  worst[`${c.name} (fused)`] = Math.max(...Object.values(errs));
  for (const e of Object.values(errs)) expect(e).toBeLessThan(TOL);
  tf.dispose([value, gx, ...Object.values(grads)]);
  expect(tf.memory().numTensors).toBe(before); // nothing the op saved for its gradient outlives it
  tf.dispose([xt, lt]);
  head.dispose();
});

test('dynamicMargins: rarer classes get larger margins within [b, a+b]', () => {
  const m = dynamicMargins([1, 10, 100], { a: 0.4, b: 0.1, lambda: 0.25 });
  expect(m[0]).toBeCloseTo(0.5, 10);
  expect(m[2]).toBeCloseTo(0.1, 10);
  expect(m[1]).toBeCloseTo(0.1 + 0.4 * ((10 ** -0.25 - 100 ** -0.25) / (1 - 100 ** -0.25)), 10);
  expect(() => dynamicMargins([3, 0])).toThrow(/class count 0 must be > 0/);
});
