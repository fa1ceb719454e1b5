/** Schedules, parameter groups, accumulation and the RNG: small exact checks. */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/device';
import { excludedFromDecay, GradAccumulator, layerwiseLrScale, Param, paramGroups } from '../../lib/train/optim';
import { Rng } from '../../lib/util/random';
import { makeSchedule } from '../../lib/train/schedule';

beforeAll(async () => {
  await initBackend();
});

test('warmup + linear decay, cosine and multistep schedules', () => {
  const lin = makeSchedule({ kind: 'linear', totalSteps: 110, warmupSteps: 10 });
  expect([0, 4, 9].map(lin)).toEqual([0.1, 0.5, 1]);
  expect(lin(10)).toBe(1);
  expect(lin(60)).toBeCloseTo(0.5, 12);
  expect(lin(110)).toBe(0);
  const cos = makeSchedule({ kind: 'cosine', totalSteps: 100, minFactor: 0.1 });
  expect(cos(0)).toBeCloseTo(1, 12);
  expect(cos(50)).toBeCloseTo(0.55, 12);
  expect(cos(100)).toBeCloseTo(0.1, 12);
  const ms = makeSchedule({ kind: 'multistep', totalSteps: 100, milestones: [30, 60], gamma: 0.5 });
  expect([0, 29, 30, 59, 60, 99].map(ms)).toEqual([1, 1, 0.5, 0.5, 0.25, 0.25]);
  expect(() => makeSchedule({ kind: 'linear', totalSteps: 10, warmupSteps: 11 })).toThrow(/warmupSteps 11/);
});

function p(name: string, shape: number[]): Param {
  return { name, variable: tf.variable(tf.zeros(shape)) };
}

test('weight decay skips biases, norms and embeddings; layer-wise decay scales ViT blocks', () => {
  const params = [
    p('backbone.conv1.weight', [8, 3, 2, 2]),
    p('backbone.positional_embedding', [5, 8]),
    p('backbone.blocks.0.attn.in_proj.weight', [24, 8]),
    p('backbone.blocks.0.ln_1.weight', [8]),
    p('backbone.blocks.1.mlp.fc.weight', [16, 8]),
    p('backbone.ln_post.bias', [8]),
    p('head.proj.weight', [4, 8]),
    p('head.proj.bias', [4]),
  ];
  expect(params.map(excludedFromDecay)).toEqual([false, true, false, true, false, true, false, true]);
  expect(layerwiseLrScale('backbone.blocks.0.attn.in_proj.weight', 2, 0.5)).toBe(0.25);
  expect(layerwiseLrScale('backbone.blocks.1.mlp.fc.weight', 2, 0.5)).toBe(0.5);
  expect(layerwiseLrScale('backbone.conv1.weight', 2, 0.5)).toBe(0.125);
  expect(layerwiseLrScale('head.proj.weight', 2, 0.5)).toBe(1);
  const groups = paramGroups(params, { lr: 1e-3, weightDecay: 0.1, rules: [{ match: /^backbone\./, lrScale: 0.01 }], layerwise: { numLayers: 2, decay: 0.5, match: /^backbone\./ } });
  const of = (name: string) => groups.find((g) => g.params.some((q) => q.name === name))!;
  expect(of('head.proj.weight')).toMatchObject({ lr: 1e-3, weightDecay: 0.1 });
  expect(of('head.proj.bias')).toMatchObject({ lr: 1e-3, weightDecay: 0 });
  expect(of('backbone.blocks.1.mlp.fc.weight').lr).toBeCloseTo(1e-3 * 0.01 * 0.5, 15);
  expect(of('backbone.blocks.0.attn.in_proj.weight').lr).toBeCloseTo(1e-3 * 0.01 * 0.25, 15);
  expect(of('backbone.conv1.weight')).toMatchObject({ weightDecay: 0.1 });
  expect(of('backbone.conv1.weight').lr).toBeCloseTo(1e-3 * 0.01 * 0.125, 15);
  expect(groups.reduce((a, g) => a + g.params.length, 0)).toBe(params.length);
  for (const q of params) q.variable.dispose();
});

test('accumulating two half-batch gradients equals the full-batch gradient', () => {
  const w = tf.variable(tf.tensor2d([[0.3, -0.2], [0.1, 0.5]]));
  const x = tf.tensor2d([[1, 2], [3, -1], [0.5, 0.5], [-2, 1]]);
  const lossOf = (rows: tf.Tensor2D) => () => tf.mean(tf.square(tf.matMul(rows, w))) as tf.Scalar;
  const full = tf.variableGrads(lossOf(x), [w]).grads[w.name].dataSync();
  const acc = new GradAccumulator();
  for (const half of [x.slice([0, 0], [2, 2]), x.slice([2, 0], [2, 2])]) acc.add(new Map(Object.entries(tf.variableGrads(lossOf(half), [w]).grads)));
  expect(acc.count).toBe(2);
  const mean = acc.take().get(w.name)!.dataSync();
  for (let i = 0; i < 4; i++) expect(mean[i]).toBeCloseTo(full[i], 6);
});

test('Rng: state round-trips, derived streams differ, permutations are permutations', () => {
  const a = new Rng(123);
  for (let i = 0; i < 10; i++) a.nextUint32();
  const b = new Rng(a.state());
  expect(Array.from({ length: 5 }, () => b.float())).toEqual(Array.from({ length: 5 }, () => a.float()));
  expect(Rng.derive(1, 2).nextUint32()).not.toBe(Rng.derive(1, 3).nextUint32());
  const perm = Rng.derive(5, 0).permutation(100);
  expect([...perm].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  expect([...perm]).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  const n = Array.from({ length: 20000 }, () => a.normal());
  const mean = n.reduce((s, v) => s + v, 0) / n.length;
  const sd = Math.sqrt(n.reduce((s, v) => s + (v - mean) ** 2, 0) / n.length);
  expect(Math.abs(mean)).toBeLessThan(0.03);
  expect(Math.abs(sd - 1)).toBeLessThan(0.03);
});
