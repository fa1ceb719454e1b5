/** The one ViT weight layout (vit-layout.ts): permutations checked against tf.transpose, round trips, and the seeded initialisations every ViT path draws from. */
import * as tf from '@tensorflow/tfjs';
import { inversePermutation, numel, permute } from '../../lib/core/layout';
import { randomClipWeights } from '../../lib/export/random-weights';
import { Vit } from '../../lib/model/vit';
import { getVitConfig } from '../../lib/model/vit-config';
import { fromTfLayout, randomVitWeights, tfPermutation, toTfLayout, vitParamShapes } from '../../lib/model/vit-layout';
import { vitFileWeights } from '../../lib/model/weights';
import { Rng } from '../../lib/util/random';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const cfg = getVitConfig('test-tiny');

describe('permute', () => {
  test.each([
    [[3, 5], [1, 0]],
    [[4, 3, 2, 2], [2, 3, 1, 0]],
    [[2, 3, 4], [1, 2, 0]],
    [[2, 1, 3, 2, 2], [4, 0, 3, 1, 2]],
    [[7], [0]],
  ])('shape [%s] by [%s] equals tf.transpose, and its inverse restores the input', (shape, perm) => {
    const r = new Rng(numel(shape));
    const data = Float32Array.from({ length: numel(shape) }, () => r.normal());
    const want = tf.tidy(() => tf.transpose(tf.tensor(data, shape), perm).dataSync());
    const got = permute(data, shape, perm);
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(Array.from(permute(got, perm.map((p) => shape[p]), inversePermutation(perm)))).toEqual(Array.from(data));
  });

  test('a wrong permutation or value count is refused', () => {
    expect(() => permute(new Float32Array(6), [2, 3], [0, 0])).toThrow(/not a permutation/);
    expect(() => permute(new Float32Array(5), [2, 3], [1, 0])).toThrow(/5 values for shape \[2,3\]/);
  });
});

describe('TF layouts', () => {
  test('conv1 goes OIHW -> HWIO, every Linear weight [out, in] -> [in, out], everything else stays', () => {
    const moved = vitParamShapes(cfg).filter(([n]) => tfPermutation(n) !== null).map(([n]) => n);
    expect(moved).toEqual(['conv1.weight', ...Array.from({ length: cfg.layers }, (_, i) => ['attn.in_proj_weight', 'attn.out_proj.weight', 'mlp.c_fc.weight', 'mlp.c_proj.weight'].map((s) => `transformer.resblocks.${i}.${s}`)).flat()]);
    const conv = toTfLayout('conv1.weight', { data: new Float32Array(64 * 3 * 8 * 8), shape: [64, 3, 8, 8] });
    expect(conv.shape).toEqual([8, 8, 3, 64]);
    expect(toTfLayout('transformer.resblocks.0.mlp.c_fc.weight', { data: new Float32Array(256 * 64), shape: [256, 64] }).shape).toEqual([64, 256]);
  });

  test('fromTfLayout undoes toTfLayout for every parameter', () => {
    for (const [name, w] of randomVitWeights(cfg, 3, 'probe')) {
      const back = fromTfLayout(name, toTfLayout(name, w));
      expect(back.shape).toEqual(w.shape);
      expect(Array.from(back.data)).toEqual(Array.from(w.data));
    }
  });

  test('the tfjs tower lays weights out the same way: Vit.random -> namedWeights gives the drawn PyTorch tensors back, and vitFileWeights of its variables too', () => {
    const vit = Vit.random(cfg, 5, 'probe');
    const named = vit.namedWeights();
    const host = new Map([...vit.variables].map(([n, v]) => [n, { values: v.dataSync() as Float32Array, shape: v.shape }]));
    const file = vitFileWeights(cfg, host);
    for (const [name, w] of randomVitWeights(cfg, 5, 'probe')) {
      expect(named.get(name)!.shape).toEqual(w.shape);
      expect(Array.from(named.get(name)!.dataSync())).toEqual(Array.from(w.data));
      expect(Array.from(file.get(name)!.dataSync())).toEqual(Array.from(w.data));
    }
    expect(vit.variables.get('conv1.weight')!.shape).toEqual([8, 8, 3, 64]);
    named.forEach((t) => t.dispose());
    file.forEach((t) => t.dispose());
    vit.dispose();
  });

  test('vitFileWeights names a missing or misshapen tensor', () => {
    const host = new Map<string, { values: Float32Array; shape: number[] }>();
    for (const [n, w] of randomVitWeights(cfg, 0, 'openclip')) {
      const t = toTfLayout(n, w);
      host.set(n, { values: t.data, shape: t.shape });
    }
    const fc = 'transformer.resblocks.0.mlp.c_fc.weight';
    const good = host.get(fc)!;
    host.set(fc, { values: new Float32Array(256 * 64), shape: [256, 64] }); // the file's layout where the TF one is due
    expect(() => vitFileWeights(cfg, host)).toThrow('tuned tensor "transformer.resblocks.0.mlp.c_fc.weight" has shape [256,64], which is [64,256] in the file layout, expected [256,64]');
    host.set(fc, good);
    host.delete('ln_post.bias');
    expect(() => vitFileWeights(cfg, host)).toThrow('ViT test-tiny: no tuned tensor for "ln_post.bias"');
  });
});

describe('random initialisation', () => {
  const stats = (d: Float32Array) => {
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    return { mean, std: Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length), min: Math.min(...d), max: Math.max(...d) };
  };

  test('the same seed draws the same weights; another seed and another parameter draw others', () => {
    const a = new Map(randomVitWeights(cfg, 7, 'openclip'));
    const b = new Map(randomVitWeights(cfg, 7, 'openclip'));
    const c = new Map(randomVitWeights(cfg, 8, 'openclip'));
    expect([...a.keys()]).toEqual(vitParamShapes(cfg).map(([n]) => n));
    for (const [name, w] of a) expect(Array.from(w.data)).toEqual(Array.from(b.get(name)!.data));
    const fc = 'transformer.resblocks.0.mlp.c_fc.weight';
    expect(a.get(fc)!.data[0]).not.toBe(c.get(fc)!.data[0]);
    expect(a.get(fc)!.data[0]).not.toBe(a.get('transformer.resblocks.1.mlp.c_fc.weight')!.data[0]);
  });

  test("'openclip': LayerNorm 1, biases 0, embeddings and proj at width^-0.5, other weights at 0.02", () => {
    const w = new Map(randomVitWeights(getVitConfig('test-tiny', { layers: 4 }), 1, 'openclip'));
    expect(new Set(w.get('ln_pre.weight')!.data)).toEqual(new Set([1]));
    expect(new Set(w.get('transformer.resblocks.2.attn.in_proj_bias')!.data)).toEqual(new Set([0]));
    const pos = stats(w.get('positional_embedding')!.data);
    expect(pos.std).toBeCloseTo(64 ** -0.5, 1);
    const fc = stats([...w].filter(([n]) => n.endsWith('mlp.c_fc.weight')).map(([, t]) => t.data).reduce((acc, d) => Float32Array.from([...acc, ...d])));
    expect(Math.abs(fc.mean)).toBeLessThan(0.001);
    expect(fc.std).toBeGreaterThan(0.0195);
    expect(fc.std).toBeLessThan(0.0205);
  });

  test("'probe': every value drawn (no constant tensor), LayerNorm within 1 ± 0.2, biases within ± 0.1, linear weights within ± 1/sqrt(fan-in)", () => {
    const w = new Map(randomVitWeights(cfg, 1, 'probe'));
    for (const [name, t] of w) expect([name, new Set(t.data).size > 1]).toEqual([name, true]);
    const ln = stats(w.get('transformer.resblocks.0.ln_2.weight')!.data);
    expect(ln.min).toBeGreaterThanOrEqual(0.8);
    expect(ln.max).toBeLessThanOrEqual(1.2);
    const bias = stats(w.get('transformer.resblocks.1.mlp.c_fc.bias')!.data);
    expect(Math.max(-bias.min, bias.max)).toBeLessThanOrEqual(0.1);
    const proj = stats(w.get('transformer.resblocks.1.mlp.c_proj.weight')!.data);
    expect(proj.max).toBeLessThanOrEqual(1 / Math.sqrt(256));
    expect(proj.max).toBeGreaterThan(0.9 / Math.sqrt(256));
  });

  test('randomClipWeights is the probe tower plus a head in the torch layout', () => {
    const w = randomClipWeights(cfg, 16, 2);
    expect([...w.keys()]).toEqual([...vitParamShapes(cfg).map(([n]) => n), 'head.proj.weight', 'head.proj.bias']);
    expect(w.get('head.proj.weight')!.shape).toEqual([16, 32]);
    const tower = new Map(randomVitWeights(cfg, 2, 'probe'));
    expect(Array.from(w.get('conv1.weight')!.data)).toEqual(Array.from(tower.get('conv1.weight')!.data));
  });
});
