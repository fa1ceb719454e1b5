/**
 * Leave-one-domain-out on cached features, and the head recipe it chooses. For every domain D of the
 * training rows, a head is trained on the other domains' rows and validated after every epoch on D's own
 * training rows: held-out-domain validation, the score a GUIE model is judged by, with D's evaluation
 * queries never looked at. Each fold keeps its best epoch by that validation and is then scored on D's
 * queries. The recipe whose mean validation curve over the folds peaks highest wins, and its peak epoch
 * is how long the shipped head trains (early stopping on the held-out-domain score, not the in-domain one).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Config } from '../config';
import type { DataSet } from '../data/dataset';
import type { DataSplit } from '../data/split';
import type { MetricsReport } from '../retrieval/metrics';
import { applyPca, fitPca } from '../retrieval/pca';
import { writeJsonAtomic } from '../util/atomic';
import type { FeatureCache } from './feature-cache';
import { headInitWeights } from './head-init';
import { train } from './loop';
import { checkpointsDir, loadWeightsInto } from './run-checkpoints';
import { createModel, type TrainModel } from './model';
import { gatherRows, rowsDataset, trainingSets } from './prepare';
import { recipeConfig } from './recipes';
import { fitBatch, headConfigFrom, trainConfigFrom } from './settings';
import { embedAll, leaveOneOutMP5 } from './validate';

/** Host mP@5 of query vectors against index vectors of the split (the caller's scorer). */
export type SplitScorer = (queryVecs: Float32Array, indexVecs: Float32Array, dim: number) => Promise<MetricsReport>;

export interface FoldResult {
  domain: string;
  /** Training rows left without the domain. */
  trainRows: number;
  /** The domain's training rows that validate every epoch. */
  valRows: number;
  /** Held-out-domain validation mP@5 after 0 (the untrained start), 1, ... epochs. */
  curve: number[];
  /** The epoch the fold keeps: the first best of its curve (0 = the start). */
  bestEpoch: number;
  /** mP@5 of the domain's evaluation queries at bestEpoch. */
  test: number;
}

export interface RecipeResult {
  recipe: string;
  folds: FoldResult[];
  /** Mean over the folds of the validation curves, per epoch (0 = the start). */
  meanCurve: number[];
  /** The first epoch where meanCurve peaks: how long the shipped head trains with this recipe. */
  epochs: number;
  /** meanCurve at `epochs`: what the recipes are compared by. */
  score: number;
}

/** Per held-out domain, the training-free whitening fitted on the same rows the fold trains on. */
export interface FoldBaseline {
  domain: string;
  queries: number;
  trainRows: number;
  whitened: number;
}

export interface LeaveOutInput {
  config: Config;
  data: DataSet;
  split: DataSplit;
  cache: FeatureCache;
  /** Names the cached features (backbone, pixels, data): part of each finished fold's reuse key. */
  featureKey: string;
  score: SplitScorer;
  outDir: string;
  log?: (line: string) => void;
}

// NaN (a diverged or unscorable point) never wins
const finite = (x: number) => (Number.isFinite(x) ? x : -Infinity);
const argmax = (v: readonly number[]) => v.reduce((best, x, i) => (finite(x) > finite(v[best]) ? i : best), 0);

/** The domains leave-one-out can test: in the training rows, with held-out queries, with a class of >= 2 training rows to validate on, and >= 2 classes left without them. */
export function foldDomains(data: DataSet, split: DataSplit): string[] {
  const queryDomains = new Set([...split.solution.domain.values()]);
  const out: string[] = [];
  for (const d of [...new Set(split.train.map((r) => data.rows[r].source))].sort()) {
    if (!queryDomains.has(d)) continue;
    const own = [...split.train, ...split.val].filter((r) => data.rows[r].source === d).map((r) => data.rows[r].label);
    const rest = new Set(split.train.filter((r) => data.rows[r].source !== d).map((r) => data.rows[r].label));
    if (own.length > new Set(own).size && rest.size >= 2) out.push(d);
  }
  return out;
}

/** Whitened PCA fitted on each fold's training rows, scored on the domain's queries (recipe-independent). */
export async function foldBaselines(a: Omit<LeaveOutInput, 'config' | 'featureKey' | 'outDir'> & { pcaDim: number; seed: number }): Promise<FoldBaseline[]> {
  const { data, split, cache } = a;
  const q = gatherRows(cache, split.query);
  const x = gatherRows(cache, split.index);
  const out: FoldBaseline[] = [];
  for (const d of foldDomains(data, split)) {
    const rows = split.train.filter((r) => data.rows[r].source !== d);
    const k = Math.min(a.pcaDim, rows.length - 1);
    const pca = fitPca(gatherRows(cache, rows), cache.dim, k, { seed: a.seed });
    const m = await a.score(applyPca(pca, q, true, true), applyPca(pca, x, true, true), k);
    out.push({ domain: d, queries: m.byDomain[d].queries, trainRows: rows.length, whitened: m.byDomain[d].mP5 });
  }
  return out;
}

/** One recipe over every fold; a fold finished before with the same settings and rows is read back, not retrained. */
export async function leaveDomainOut(a: LeaveOutInput & { recipe: string }): Promise<RecipeResult> {
  const folds: FoldResult[] = [];
  for (const d of foldDomains(a.data, a.split)) folds.push(await fold(a, d));
  if (folds.length === 0) throw new Error('leave-one-domain-out: no domain can be left out (each needs held-out queries, a repeated class among its training rows and two classes elsewhere)');
  const epochs = Math.min(...folds.map((f) => f.curve.length));
  const meanCurve = Array.from({ length: epochs }, (_, e) => folds.reduce((s, f) => s + f.curve[e], 0) / folds.length);
  const best = argmax(meanCurve);
  return { recipe: a.recipe, folds, meanCurve, epochs: best, score: meanCurve[best] ?? NaN };
}

/** The recipe with the highest peak of its mean held-out-domain curve (the earlier listed on a tie). */
export function chooseRecipe(results: readonly RecipeResult[]): RecipeResult {
  if (results.length === 0) throw new Error('chooseRecipe: no recipe was scored');
  return results.reduce((best, r) => (finite(r.score) > finite(best.score) ? r : best));
}

async function fold(a: LeaveOutInput & { recipe: string }, d: string): Promise<FoldResult> {
  const { data, split, cache } = a;
  const config = recipeConfig(a.config, a.recipe);
  const keep = (r: number) => data.rows[r].source !== d;
  const without: DataSplit = { ...split, train: split.train.filter(keep), val: [] };
  const own = [...split.train, ...split.val].filter((r) => !keep(r));
  const sets = trainingSets(data, without, cache);
  const heldVal = rowsDataset(cache, own, Int32Array.from(own, (r) => data.rows[r].label));
  const head = headConfigFrom(config, cache.dim, sets.numClasses);
  const cfg = fitBatch({ ...trainConfigFrom(config), progressMode: 'silent' }, sets.train.size).cfg;
  const dir = path.join(a.outDir, a.recipe, d.replace(/[^\w.-]/g, '_'));
  const key = createHash('sha256').update(JSON.stringify({ head, cfg, headInit: config.headInit, feature: a.featureKey, rows: [without.train, own], scored: [split.query, split.index] })).digest('hex');
  const doneFile = path.join(dir, 'done.json');
  if (fs.existsSync(doneFile)) {
    const done = JSON.parse(fs.readFileSync(doneFile, 'utf8')) as { key: string; result: FoldResult };
    if (done.key === key) return done.result;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const init = await headInitWeights(config, head, sets.train);
  const model = createModel(head, init.weights);
  try {
    const validate = async () => (await leaveOneOutMP5(await embedAll(model, heldVal.size, (s, e) => heldVal.rows(Int32Array.from({ length: e - s }, (_, i) => s + i))), head.embeddingDim, heldVal.labels)).mP5;
    const start = await validate();
    const startTest = await testScore(a, model, d);
    const res = await train(model, { train: sets.train, val: heldVal }, cfg, { outDir: dir, log: () => undefined });
    const curve = [start, ...res.epochs.map((e) => e.valMP5 ?? NaN)];
    const bestEpoch = argmax(curve);
    let test = startTest;
    if (bestEpoch > 0) {
      loadWeightsInto(model, path.join(checkpointsDir(dir), 'best'));
      test = await testScore(a, model, d);
    }
    const result: FoldResult = { domain: d, trainRows: without.train.length, valRows: own.length, curve, bestEpoch, test };
    fs.rmSync(checkpointsDir(dir), { recursive: true, force: true }); // the fold's numbers are what is kept, not its weights
    writeJsonAtomic(doneFile, { key, result });
    a.log?.(`${a.recipe} without ${d}: best held-out-domain validation ${curve[bestEpoch].toFixed(4)} at epoch ${bestEpoch}, ${d} queries ${test.toFixed(4)}`);
    return result;
  } finally {
    model.dispose();
  }
}

async function testScore(a: LeaveOutInput, model: TrainModel, d: string): Promise<number> {
  const embed = (rows: readonly number[]) => embedAll(model, rows.length, (s, e) => rowsDataset(a.cache, rows.slice(s, e)).rows(Int32Array.from({ length: e - s }, (_, i) => i)));
  const m = await a.score(await embed(a.split.query), await embed(a.split.index), model.config.embeddingDim);
  return m.byDomain[d].mP5;
}
