/** The winners' staged recipe on a real (tiny, random) CLIP ViT from lib/model: head first, then the backbone at its own low lr with layer-wise decay and the projection frozen. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../lib/device';
import { Vit } from '../../lib/model/vit';
import { getVitConfig } from '../../lib/model/vit-config';
import { train } from '../../lib/train/loop';
import { stagedRecipe, type Dataset, type TrainConfig } from '../../lib/train/train-config';
import { DEFAULT_TRAIN_CONFIG } from '../../lib/train/settings';
import { createModel, initHeadWeights, type HeadConfig } from '../../lib/train/model';
import { paramGroups } from '../../lib/train/optim';
import { Rng } from '../../lib/util/random';
import { vitBackbone } from '../../lib/train/vit-backbone';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-vit-staged-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** 4 classes of 32x32 images: a class colour plus per-image noise (normalised pixels). */
function images(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
  const px = new Float32Array(n * 32 * 32 * 3);
  for (let i = 0; i < n; i++) for (let j = 0; j < 32 * 32 * 3; j++) px[i * 3072 + j] = (j % 3 === labels[i] % 3 ? 1 : -1) * (labels[i] < 3 ? 1 : 0.3) + 0.5 * rng.normal();
  return {
    size: n,
    labels,
    rows: (idx) => tf.tensor4d(Float32Array.from(Array.from(idx).flatMap((i) => Array.from(px.subarray(i * 3072, (i + 1) * 3072)))), [idx.length, 32, 32, 3]),
  };
}

test('stage 1 trains only the head; stage 2 the ViT + margin at the backbone lr, head projection frozen; layer-wise lr decays toward the stem', async () => {
  await initBackend();
  const cfg = getVitConfig('test-tiny');
  const vit = Vit.random(cfg, 3);
  const backbone = vitBackbone(vit);
  const head: HeadConfig = { inputDim: backbone.outputDim, embeddingDim: 16, numClasses: 4, dropout: 0, margin: 'arcface', scale: 16, marginValue: 0.2 };
  const model = createModel(head, initHeadWeights(head, 1), backbone);
  const snap = () => new Map(model.params.map((p) => [p.name, Float32Array.from(p.variable.dataSync())]));
  const changed = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) => [...a.keys()].filter((k) => a.get(k)!.some((v, i) => v !== b.get(k)![i]));
  const tc: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, batchSize: 8, lr: 1e-2, backboneLr: 1e-4, layerDecay: 0.5, numLayers: cfg.layers, progressMode: 'silent', checkpointEvery: 1000 };

  const s0 = snap();
  await train(model, { train: images(16, 2), val: null }, { ...tc, stages: stagedRecipe(1, 0) }, { outDir: path.join(tmp, 's1'), log: () => {} });
  const s1 = snap();
  expect(changed(s0, s1).sort()).toEqual(['head.margin.weight', 'head.proj.bias', 'head.proj.weight']);

  await train(model, { train: images(16, 2), val: null }, { ...tc, stages: [stagedRecipe(1, 1)[1]] }, { outDir: path.join(tmp, 's2'), log: () => {} });
  const s2 = snap();
  const moved = changed(s1, s2);
  expect(moved).toContain('head.margin.weight');
  expect(moved).not.toContain('head.proj.weight');
  expect(moved).not.toContain('head.proj.bias');
  const vitNames = [...vit.variables.keys()].map((n) => `backbone.${n}`);
  expect(moved.filter((n) => n.startsWith('backbone.')).sort()).toEqual(vitNames.sort()); // every ViT tensor trained

  // the lr each ViT tensor got: backbone lr x 0.5^(L - block), stem 0.5^(L+1), post-norm/proj 1
  const lrOf = new Map<string, number>();
  for (const g of paramGroups(model.params.filter((p) => p.name.startsWith('backbone.')), { lr: tc.lr, weightDecay: 0, rules: [{ match: /^backbone\./, lrScale: tc.backboneLr / tc.lr }], layerwise: { numLayers: cfg.layers, decay: 0.5, match: /^backbone\./ } })) {
    for (const p of g.params) lrOf.set(p.name, g.lr);
  }
  expect(lrOf.get('backbone.transformer.resblocks.1.attn.in_proj_weight')).toBeCloseTo(1e-4 * 0.5, 12);
  expect(lrOf.get('backbone.transformer.resblocks.0.attn.in_proj_weight')).toBeCloseTo(1e-4 * 0.25, 12);
  expect(lrOf.get('backbone.conv1.weight')).toBeCloseTo(1e-4 * 0.125, 12);
  expect(lrOf.get('backbone.ln_post.weight')).toBeCloseTo(1e-4, 12);
  model.dispose();
}, 120_000);
