/**
 * The packaged CNNs as trainable graphs (lib/model/cnn-graph.ts, lib/train/cnn-backbone.ts), on the
 * real cached models and the real tfjs backend: the interpreter equals the fused graph model
 * through every cut, gradients reach every trained tensor, and tuned weights come back out of
 * weights.bin where export and loading read them.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/device';
import { loadBackbone, type Backbone } from '../../lib/model/backbones';
import { disposeCnnGraph, parseCnnGraph, replaceGraphWeights } from '../../lib/model/cnn-graph';
import { PACKAGED_CNNS } from '../../lib/model/cnn/registry';
import { cnnCut, prefixBackbone, suffixBackbone } from '../../lib/train/cnn-backbone';
import { sharedCacheDir } from './helpers';

const cacheDir = sharedCacheDir();

beforeAll(async () => {
  await initBackend();
});

describe.each(Object.keys(PACKAGED_CNNS))('%s', (name) => {
  let b: Backbone;
  let x: tf.Tensor4D;
  let reference: tf.Tensor2D;
  beforeAll(async () => {
    b = await loadBackbone(name, { cacheDir });
    const s = b.preprocess.imageSize;
    x = tf.randomUniform([2, s, s, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    reference = b.features(x);
  }, 180_000);
  afterAll(() => {
    tf.dispose([x, reference]);
    b.dispose();
  });

  test.each(PACKAGED_CNNS[name].blockInputs.map((_, i) => i + 1))('prefix (graph model) + trainable last %i block(s) (interpreter) = the fused graph model, and every tuned tensor gets a gradient', (k) => {
    const cut = cnnCut(b, k);
    const suffix = suffixBackbone(cut);
    try {
      expect(suffix.outputDim).toBe(b.featureDim);
      expect(cut.weights.length).toBeGreaterThan(0);
      const act = prefixBackbone(b, cut).features(x);
      expect(act.shape).toEqual([2, cut.shape[0] * cut.shape[1] * cut.shape[2]]);
      const out = suffix.forward(act);
      const err = tf.tidy(() => tf.max(tf.abs(tf.sub(out, reference))).dataSync()[0] / tf.max(tf.abs(reference)).dataSync()[0]);
      // same kernels, unfused: float32 round-off at most
      expect(err).toBeLessThan(1e-5);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(suffix.forward(act))) as tf.Scalar, suffix.params.map((p) => p.variable));
      const norms = suffix.params.map((p) => tf.tidy(() => tf.norm(grads[p.variable.name]).dataSync()[0]));
      expect(norms.every((n) => Number.isFinite(n) && n > 0)).toBe(true);
      tf.dispose([act, out, value, ...Object.values(grads)]);
    } finally {
      for (const p of suffix.params) p.variable.dispose();
      disposeCnnGraph(cut.graph);
    }
  }, 120_000);

  test('tuned weights written into weights.bin load back as the backbone that runs them', async () => {
    const cut = cnnCut(b, 1);
    try {
      const target = cut.weights[0];
      const orig = cut.graph.consts.get(target)!.dataSync() as Float32Array;
      const changed = Float32Array.from(orig, (v) => v * 0.5);
      const bytes = replaceGraphWeights(b.cnn!.cache.json, b.cnn!.weightData, new Map([[target, { values: changed }]]));
      const back = parseCnnGraph(b.cnn!.cache.json, bytes);
      expect(Array.from(back.consts.get(target)!.dataSync())).toEqual(Array.from(changed));
      const other = cut.weights[1] ?? [...cut.graph.consts.keys()][0];
      expect(Array.from(back.consts.get(other)!.dataSync())).toEqual(Array.from(cut.graph.consts.get(other)!.dataSync()));
      disposeCnnGraph(back);
      // the loader runs a checkpoint's tuned tensors: the features move
      const tuned = await loadBackbone(name, { cacheDir, graphWeights: new Map([[target, { values: changed }]]) });
      const f = tuned.features(x);
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(f, reference))).dataSync()[0])).toBeGreaterThan(1e-3);
      f.dispose();
      tuned.dispose();
      expect(() => replaceGraphWeights(b.cnn!.cache.json, b.cnn!.weightData, new Map([[target, { values: new Float32Array(3) }]]))).toThrow(/tuned ".*" has 3 values, the graph holds \d+/);
      expect(() => replaceGraphWeights(b.cnn!.cache.json, b.cnn!.weightData, new Map([['no/such/node', { values: new Float32Array(3) }]]))).toThrow(/tuned tensors not in the graph: no\/such\/node/);
    } finally {
      disposeCnnGraph(cut.graph);
    }
  }, 120_000);

  test('a cut outside the known blocks is refused with the range', () => {
    const n = PACKAGED_CNNS[name].blockInputs.length;
    expect(() => cnnCut(b, n + 1)).toThrow(new RegExp(`backboneBlocks ${n + 1}: ${name} can fine-tune its last 1-${n} blocks`));
  });
});
