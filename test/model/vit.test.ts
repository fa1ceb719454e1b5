/** The tfjs ViT's contracts: parameter names/layouts, summary counts, training hooks, heads. */
import * as tf from '@tensorflow/tfjs';
import { EmbeddingHead } from '../../lib/model/heads';
import { softmaxCrossEntropy } from '../../lib/model/loss';
import { MarginHead } from '../../lib/model/margins';
import { resamplePosEmbed } from '../../lib/model/pos-embed';
import { formatSummary, modelSummary } from '../../lib/model/summary';
import { summaryCommand } from '../../lib/model/commands';
import { Vit } from '../../lib/model/vit';
import { vitParamShapes } from '../../lib/model/vit-layout';
import { getVitConfig, gridSize } from '../../lib/model/vit-config';
import { Rng } from '../../lib/util/random';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('summary (from shapes, no weights)', () => {
  test('ViT-H/14 without projection + Dense(64): 630,766,080 backbone, 630,848,064 total (reference notebook)', () => {
    const s = modelSummary(getVitConfig('ViT-H-14', { outputDim: null }), { dim: 64 });
    expect(s.backboneParams).toBe(630_766_080);
    expect(s.totalParams).toBe(630_848_064);
    expect(s.headParams).toBe(1280 * 64 + 64);
    const text = formatSummary(s);
    expect(text).toMatch(/Total params: 630,848,064/);
    expect(text).toMatch(/resblocks\.31 \(ResidualAttentionBlock\)\s+\(None, 257, 1280\)\s+19,677,440/);
    expect(text).toMatch(/dense \(Dense\)\s+\(None, 64\)\s+81,984/);
    // the CLI function gives the same numbers; with projection the open_clip tower has 632,076,800
    expect(summaryCommand({ model: 'ViT-H-14', proj: false }).totalParams).toBe(630_848_064);
    expect(summaryCommand({ model: 'ViT-H-14', dim: 0 }).totalParams).toBe(632_076_800);
  });

  test('summary counts equal the parameters a built model allocates (tiny, overlapping patches)', () => {
    const cfg = getVitConfig('test-tiny', { patchStride: 6 });
    expect(gridSize(cfg)).toBe(5);
    const vit = Vit.random(cfg);
    const head = EmbeddingHead.create({ inDim: 32, dim: 64, dropout: 0.2 });
    const s = modelSummary(cfg, { dim: 64 });
    expect(s.backboneParams).toBe(vit.numParams);
    expect(s.totalParams).toBe(vit.numParams + head.numParams);
    expect(s.rows.find((r) => r.layer === 'embeddings')!.outputShape).toEqual([null, 26, 64]);
    vit.dispose();
    head.dispose();
  });
});

describe('ViT contracts', () => {
  const cfg = getVitConfig('test-tiny');

  test('namedWeights: OpenCLIP names and PyTorch layouts; fromWeights(namedWeights) reproduces the model', () => {
    const vit = Vit.random(cfg, 2);
    const named = vit.namedWeights();
    expect([...named.keys()]).toEqual(vitParamShapes(cfg).map(([n]) => n));
    expect(named.get('conv1.weight')!.shape).toEqual([64, 3, 8, 8]);
    expect(named.get('transformer.resblocks.1.attn.in_proj_weight')!.shape).toEqual([192, 64]);
    expect(named.get('transformer.resblocks.0.mlp.c_fc.weight')!.shape).toEqual([256, 64]);
    expect(named.get('transformer.resblocks.0.mlp.c_proj.weight')!.shape).toEqual([64, 256]);
    expect(named.get('positional_embedding')!.shape).toEqual([17, 64]);
    expect(named.get('proj')!.shape).toEqual([64, 32]);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const y = vit.forward(x);
    expect(y.shape).toEqual([2, 32]);
    const twin = Vit.fromWeights(cfg, named);
    expect(Array.from(twin.forward(x).dataSync())).toEqual(Array.from(y.dataSync()));
    expect(() => vit.forward(tf.zeros([1, 48, 48, 3]) as tf.Tensor4D)).toThrow(/input \[1,48,48,3\] must be NHWC \[B, 32, 32, 3\]/);
    expect(() => Vit.fromWeights(getVitConfig('test-tiny', { outputDim: null }), twin.namedWeights())).toThrow(/unexpected weights proj/);
    tf.dispose([x, y]);
    vit.dispose();
    twin.dispose();
  });

  test('conv1 layout by hand: a one-hot OIHW filter copies pixel (2,5) of each patch into its token', () => {
    const small = getVitConfig('test-tiny', { layers: 0, outputDim: null, width: 3, heads: 1 });
    const named = Vit.random(small).namedWeights();
    const conv = new Float32Array(3 * 3 * 8 * 8);
    for (let o = 0; o < 3; o++) conv[((o * 3 + o) * 8 + 2) * 8 + 5] = 1; // out o <- in o at (row 2, col 5)
    named.get('conv1.weight')!.dispose();
    named.set('conv1.weight', tf.tensor4d(conv, [3, 3, 8, 8]));
    const vit = Vit.fromWeights(small, named);
    const img = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const tokens = vit.embed(img);
    const pos = vit.namedWeight('positional_embedding');
    const patchTok = tf.sub(tokens, pos).slice([0, 1 + 1 * 4 + 2, 0], [1, 1, 3]).dataSync(); // patch row 1, col 2
    const pixel = img.slice([0, 8 + 2, 16 + 5, 0], [1, 1, 1, 3]).dataSync();
    patchTok.forEach((v, c) => expect(v).toBeCloseTo(pixel[c], 5));
    tf.dispose([img, tokens, pos]);
    vit.dispose();
  });

  test('no tensor leaks: create, load, forward, namedWeights, dispose', () => {
    const before = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    const vit = Vit.random(cfg, 1);
    const named = vit.namedWeights();
    const twin = Vit.fromWeights(cfg, named);
    const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    tf.dispose([vit.forward(x, true), twin.forward(x), x]);
    vit.dispose();
    twin.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.memory().numBytes).toBe(bytes);
  });

  test('parameterGroups: embed, one group per block, head; setTrainable freezes the tower', () => {
    const vit = Vit.random(cfg);
    const groups = vit.parameterGroups();
    expect(groups.map((g) => `${g.name}:${g.variables.length}`)).toEqual(['embed:5', 'block.0:12', 'block.1:12', 'head:3']);
    expect(groups.map((g) => g.depth)).toEqual([0, 1, 2, 3]);
    expect(vit.trainableVariables.length).toBe(32);
    vit.setTrainable(false);
    expect(vit.trainableVariables.length).toBe(0);
    vit.dispose();
  });

  test('training graph: gradients reach every backbone, head and margin variable; inference shares the weights', () => {
    const vit = Vit.random(cfg, 4);
    const head = EmbeddingHead.create({ inDim: 32, dim: 16, dropout: 0 }, 1); // no dropout: losses comparable
    const margin = MarginHead.create({ kind: 'arcface', numClasses: 5, dim: 16, s: 30, m: 0.3 }, 2);
    const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 2, 4], 'int32');
    const vars = [...vit.trainableVariables, ...head.trainableVariables, ...margin.trainableVariables];
    const lossFn = () => softmaxCrossEntropy(margin.forward(head.project(vit.forward(x, true), null), labels), labels, 0.1);
    const { value, grads } = tf.variableGrads(lossFn, vars);
    expect(Object.keys(grads).length).toBe(vars.length);
    for (const v of vars) expect(tf.max(tf.abs(grads[v.name])).dataSync()[0]).toBeGreaterThan(0);
    // one SGD step lowers the loss; the inference path sees the updated weights
    const before = head.forward(vit.forward(x)).dataSync().slice();
    const opt = tf.train.sgd(0.002);
    opt.applyGradients(grads);
    const after = lossFn().dataSync()[0];
    expect(after).toBeLessThan(value.dataSync()[0]);
    const emb = head.forward(vit.forward(x));
    expect(Array.from(emb.dataSync())).not.toEqual(Array.from(before));
    const norms = tf.norm(emb, 2, 1).dataSync();
    norms.forEach((n) => expect(n).toBeCloseTo(1, 5));
    tf.dispose([x, labels, value, emb, ...Object.values(grads)]);
    vit.dispose();
    head.dispose();
    margin.dispose();
  });

  test('EmbeddingHead: the training checkpoints\' names and torch layout, dropout only with an Rng', () => {
    const head = EmbeddingHead.create({ inDim: 8, dim: 4, dropout: 0.5 }, 3);
    const named = head.namedWeights();
    expect([...named.keys()]).toEqual(['head.proj.weight', 'head.proj.bias']);
    expect(named.get('head.proj.weight')!.shape).toEqual([4, 8]);
    const x = tf.ones([64, 8]) as tf.Tensor2D;
    const a = head.forward(x).dataSync();
    expect(Array.from(head.forward(x).dataSync())).toEqual(Array.from(a));
    expect(Array.from(head.forward(x, new Rng(1)).dataSync())).not.toEqual(Array.from(a));
    x.dispose();
    head.dispose();
  });
});

test('resamplePosEmbed: same grid is the identity, a constant grid stays constant, class row kept', () => {
  const w = 3;
  const src = Float32Array.from({ length: (1 + 16) * w }, (_, i) => Math.sin(i));
  expect(Array.from(resamplePosEmbed(src, w, 4, 4))).toEqual(Array.from(src).map((v) => Math.fround(v)));
  const flat = new Float32Array((1 + 9) * w).fill(0.25);
  flat.set([7, 8, 9]);
  const up = resamplePosEmbed(flat, w, 3, 7);
  expect(up.length).toBe((1 + 49) * w);
  expect(Array.from(up.subarray(0, 3))).toEqual([7, 8, 9]);
  up.subarray(3).forEach((v) => expect(v).toBeCloseTo(0.25, 6));
  expect(() => resamplePosEmbed(flat, w, 4, 5)).toThrow(/has 30 values, expected \(1 \+ 4²\) × 3/);
});
