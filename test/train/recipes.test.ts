/**
 * The recipe search's parts on the real loop: recipe names parse or fail naming the problem, a recipe
 * overrides only its own keys, the choice takes the highest mean held-out-domain validation (the earlier
 * recipe on a tie) and its first peak epoch, and a run stopped early by `stopAfterEpochs` is the full
 * schedule's run cut at that epoch, weights bit for bit.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_CONFIG } from '../../lib/config';
import { initBackend } from '../../lib/device';
import { listCheckpoints, loadCheckpoint } from '../../lib/train/checkpoint';
import { chooseRecipe, type RecipeResult } from '../../lib/train/leave-domain-out';
import { train } from '../../lib/train/loop';
import { type Dataset, type TrainConfig } from '../../lib/train/train-config';
import { checkpointsDir } from '../../lib/train/run-checkpoints';
import { createModel, initHeadWeights, type HeadConfig } from '../../lib/train/model';
import { parseRecipes, RECIPE_NAMES, recipeConfig } from '../../lib/train/recipes';
import { DEFAULT_TRAIN_CONFIG } from '../../lib/train/settings';
import { syntheticFeatures, type SyntheticConfig } from '../../lib/train/synthetic';

test('recipe names: the default list parses, unknown, empty and repeated names fail naming the problem', () => {
  expect(parseRecipes(DEFAULT_CONFIG.recipes).every((n) => RECIPE_NAMES.includes(n))).toBe(true);
  expect(parseRecipes(' base , cosface ')).toEqual(['base', 'cosface']);
  expect(() => parseRecipes('base,arcfase')).toThrow(/unknown recipe "arcfase" \(known: base, l2-sp/);
  expect(() => parseRecipes(' , ')).toThrow(/empty list/);
  expect(() => parseRecipes('base,base')).toThrow(/"base" is listed twice/);
});

test('a recipe overrides its own keys and keeps every other configured value', () => {
  const config = { ...DEFAULT_CONFIG, lr: 0.05, epochs: 7 };
  expect(recipeConfig(config, 'base')).toEqual(config);
  const cos = recipeConfig(config, 'cosface');
  expect([cos.margin, cos.arcMargin, cos.lr, cos.epochs]).toEqual(['cosface', 0.2, 0.05, 7]);
  expect(recipeConfig(config, 'l2-sp').anchor).toBe(0.01);
  expect(() => recipeConfig(config, 'nope')).toThrow(/unknown recipe "nope"/);
});

test('the choice: highest peak of the mean curve, the earlier recipe on a tie; epochs = the first peak', () => {
  const r = (recipe: string, meanCurve: number[]): RecipeResult => {
    const epochs = meanCurve.indexOf(Math.max(...meanCurve));
    return { recipe, folds: [], meanCurve, epochs, score: meanCurve[epochs] };
  };
  const a = r('base', [0.5, 0.6, 0.62, 0.61]);
  const b = r('l2-sp', [0.5, 0.63, 0.63, 0.6]);
  const c = r('cosface', [0.5, 0.55, 0.63, 0.6]);
  expect(chooseRecipe([a, b, c])).toBe(b); // 0.63 ties c, b is listed first
  expect(chooseRecipe([a, b, c]).epochs).toBe(1);
  expect(chooseRecipe([c, b]).recipe).toBe('cosface');
  expect(() => chooseRecipe([])).toThrow(/no recipe/);
});

const SYN: SyntheticConfig = { classes: 6, perClass: 8, dim: 24, signalDim: 6, separation: 2, noise: 1, sources: ['a'], seed: 9 };
const HEAD: HeadConfig = { inputDim: SYN.dim, embeddingDim: 8, numClasses: SYN.classes, dropout: 0.1, margin: 'arcface', scale: 30, marginValue: 0.3 };

test('stopAfterEpochs: the first epochs of the full (linear) schedule, then stop; weights equal the full run at that epoch', async () => {
  await initBackend();
  const b = syntheticFeatures(SYN, 0);
  const data: Dataset = { size: b.labels.length, labels: b.labels, rows: (idx) => tf.tensor2d(Float32Array.from({ length: idx.length * SYN.dim }, (_, k) => b.features[idx[Math.floor(k / SYN.dim)] * SYN.dim + (k % SYN.dim)]), [idx.length, SYN.dim]) };
  const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, seed: 4, batchSize: 8, lr: 1e-2, schedule: { kind: 'linear', warmupSteps: 0 }, stages: [{ name: 'head', epochs: 5, train: '^head\\.' }], checkpointEvery: 1000, keepLast: 1000, progressMode: 'silent' };
  const run = async (extra: Partial<TrainConfig>) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-stop-'));
    const model = createModel(HEAD, initHeadWeights(HEAD, 2));
    try {
      const res = await train(model, { train: data, val: null }, { ...cfg, ...extra }, { outDir: out, log: () => undefined });
      return { res, out };
    } finally {
      model.dispose();
    }
  };
  const full = await run({});
  const cut = await run({ stopAfterEpochs: 2 });
  expect(full.res.epochs).toHaveLength(5);
  expect(cut.res.epochs.map((e) => e.epoch)).toEqual([1, 2]);
  const steps = (out: string) => fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; lr: number; step: number }).filter((r) => r.type === 'step');
  // the lr still decays over all 5 epochs: the cut run's steps have the full run's lrs, none reaches 0
  const fullSteps = steps(full.out);
  const cutSteps = steps(cut.out);
  expect(cutSteps.length).toBe((fullSteps.length * 2) / 5);
  for (const s of cutSteps) expect(s.lr).toBe(fullSteps.find((f) => f.step === s.step)!.lr);
  expect(cutSteps[cutSteps.length - 1].lr).toBeGreaterThan(0.5 * cfg.lr);
  // weights at epoch 2: the cut run's best (its newest epoch) is the full run's epoch-2 checkpoint
  const at2 = listCheckpoints(checkpointsDir(full.out)).map((d) => loadCheckpoint(d)).find((c) => c.state.epoch === 2 && c.state.batchInEpoch === 0)!;
  const best = loadCheckpoint(path.join(checkpointsDir(cut.out), 'best'));
  expect(best.state.epoch).toBe(2);
  for (const [k, v] of at2.tensors) if (k.startsWith('param/')) expect(Array.from(best.tensors.get(k)!.values)).toEqual(Array.from(v.values));
});
