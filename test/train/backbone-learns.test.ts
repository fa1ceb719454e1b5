/**
 * The backbone stage learns what a head on frozen features cannot (issue: "a learning test"), through
 * the whole main job on real photos: a tiny CLIP ViT without its projection (`test-tiny.noproj`)
 * whose final LayerNorm scale is zero, so its frozen features are the same vector for every image
 * (LayerNorm(x)·0 + bias): the head stage has nothing to separate. The backbone stage tunes the
 * tower on augmented images (the LayerNorm scale included) and held-out mP@5 rises well above it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { mergeConfig, DEFAULT_CONFIG } from '../../lib/config';
import { initBackend } from '../../lib/device';
import { runMainJob } from '../../lib/main-job';
import { loadBackbone } from '../../lib/model/backbones';
import { saveVit } from '../../lib/model/weights';
import { classFolders } from '../helpers/photos';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-bblearn-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('held-out mP@5: the backbone stage lifts a model whose frozen features cannot separate the classes', async () => {
  await initBackend();
  const weights = path.join(tmp, 'weights');
  fs.mkdirSync(weights);
  const vit = await loadBackbone('test-tiny', { randomSeed: 11 });
  const scale = vit.vit!.variables.get('ln_post.weight')!;
  scale.assign(tf.zerosLike(scale));
  saveVit(vit.vit!, path.join(weights, 'test-tiny.safetensors')); // what `.noproj` reads too
  vit.dispose();

  const photos = path.join(tmp, 'photos');
  await classFolders(photos, 12, 6, 40, 64);
  const config = mergeConfig(DEFAULT_CONFIG, {
    backbone: 'test-tiny.noproj',
    split: 'images',
    validFraction: 0.34,
    epochs: 3,
    backboneEpochs: 12,
    backboneLr: 3e-3,
    batchSize: 8,
    paths: { data: photos, weights, cache: path.join(tmp, 'cache'), outputs: tmp },
  });
  const lines: string[] = [];
  const res = await runMainJob({ config, outDir: path.join(tmp, 'run'), jig: false, log: (l) => lines.push(l) });
  // frozen features: one vector for all images, so every head embedding is the same: chance (1/12).
  // measured over 24 held-out queries: raw, PCA, head only 0.083; after the backbone stage 0.479
  expect(res.metrics.overall.queries).toBe(24);
  expect(res.mP5.raw).toBeLessThan(0.15);
  expect(res.mP5.headOnly).toBeLessThan(0.15);
  expect(res.mP5.trainedHead).toBeGreaterThan(0.35);
  expect(lines.join('\n')).toMatch(/train backbone\n\s+test-tiny\.noproj: all 2 blocks on augmented images/);
  expect(res.stages.find((s) => s.stage === 'verify submission')!.result).toMatch(/^ok/);
}, 300_000);
