/**
 * The main job (`npm start`, `guie run [--data DIR]`): the whole notebook sequence on the bundled
 * default or on your own data, into one self-contained run folder. One stage function each (lib/main-job/):
 *   device -> data (records) -> split -> backbone -> features (cached by content) -> baselines (raw,
 *   PCA, whitened on train and on the gallery) -> leave-one-domain-out per head recipe (>= 2 domains:
 *   picks the recipe and its epochs) -> head training -> backbone stage -> evaluation on held-out
 *   queries, per domain -> export -> verify submission -> jig report
 */
import * as path from 'path';
import { loadConfig, mergeConfig, validatePartial, type Config } from './config';
import { initBackend } from './device';
import { openDataSet, type DataSet } from './data/dataset';
import type { SampleOptions } from './data/builders/sample';
import { splitDataSet, type DataSplit } from './data/split';
import { defaultBackboneCacheDir, loadBackbone, type Backbone } from './model/backbones';
import type { MetricsReport } from './retrieval/metrics';
import { headInitWeights } from './train/head-init';
import { createModel } from './train/model';
import { dataFeatures, type DataFeatures } from './train/prepare';
import { parseRecipes } from './train/recipes';
import { writeFileAtomic, writeJsonAtomic } from './util/atomic';
import { lockFolder } from './util/lock';
import { PROJECT_ROOT } from './util/paths';
import { baselineStage, pcaWidth } from './main-job/baselines';
import { writeEvalFolders } from './main-job/eval-folders';
import { domainScores, evaluateStage, type DomainScores } from './main-job/evaluate';
import { headPlan, trainHeadStage } from './main-job/head';
import { backboneVerdict, FEW_QUERIES, fewQueries, noise } from './main-job/noise';
import { recipeSearchStage, type LeaveOutScores, type RecipeSummary } from './main-job/recipe-search';
import { writeRunRecord } from './main-job/run-record';
import { heldOut, scoreHead } from './main-job/score';
import { exportStage, jigStage, verifyStage } from './main-job/ship';
import { formatStages, stageRunner, type Stage, type StageRecord } from './main-job/stage';
import { tuneBackboneStage } from './main-job/tune-backbone';

export interface MainJobOptions {
  config: Config;
  /** Your data (a folder of class folders, or of TFRecords); default config.paths.data, empty = the bundled sample. */
  data?: string;
  /** Where this run writes (default <paths.outputs>/run). */
  outDir?: string;
  /** Sample-data size (the default makes a few-minute run; tests pass smaller). */
  sample?: Omit<SampleOptions, 'outDir' | 'log'>;
  /** Skip the jig report (tests that only need the numbers). */
  jig?: boolean;
  log?: (line: string) => void;
}

export interface MainJobResult {
  stages: StageRecord[];
  /**
   * mP@5 on the held-out queries; trainedHead is the shipped model (after the backbone stage when there is one), headOnly the
   * head stage's; whitened: whitened PCA fitted on the training rows; whitenedGallery: fitted on the index (a transductive reference).
   */
  mP5: { raw: number; pca64: number; whitened: number; whitenedGallery: number; untrainedHead: number; headOnly: number; trainedHead: number };
  /** Width of the PCA baseline: embeddingDim, or fewer on a training set smaller than that. */
  pcaDim: number;
  metrics: MetricsReport;
  submission: string;
  report: string | null;
  outDir: string;
  /** Held-out evaluation as image folders (<domain>/<class>/<image>): what `guie eval --model` takes. */
  evalDirs: { queries: string; index: string };
  /** The split kind used (config split). */
  split: string;
  /** Per domain of the held-out queries: the shipped model beside the training-free baselines. */
  domains: DomainScores[];
  /** Leave-one-domain-out of the chosen recipe (data of >= 2 domains): for each domain D, a head trained without D, scored on D. */
  leaveOut: LeaveOutScores[] | null;
  /** Every recipe tried leaving domains out, with its mean held-out-domain validation; `chosen` trained the shipped head for `epochs` (null: one domain, the configured recipe with in-domain validation). */
  recipes: { chosen: string; epochs: number | null; tried: RecipeSummary[] };
}

export async function runMainJob(opts: MainJobOptions): Promise<MainJobResult> {
  const config = opts.config;
  const outDir = path.resolve(opts.outDir ?? path.join(config.paths.outputs, 'run'));
  const release = lockFolder(outDir, 'guie run', opts.log);
  try {
    return await runInLockedFolder(opts, config, outDir);
  } finally {
    release();
  }
}

async function runInLockedFolder(opts: MainJobOptions, config: Config, outDir: string): Promise<MainJobResult> {
  parseRecipes(config.recipes); // a misspelt recipe fails now, not after the data and features stages
  const { stage, records: stages } = stageRunner(opts.log ?? ((l: string) => console.log(l)));
  await stage('device', () => initBackend(), (c) => `tfjs backend ${c.backend}`);
  const sample = opts.sample ? { ...opts.sample, outDir: path.join(outDir, 'sample') } : undefined;
  const data = await stage('data', () => openDataSet(config, { recordsDir: path.join(outDir, 'records'), sample }, opts.data ?? config.paths.data), (d) => d.summary);
  const split = await stage('split', async () => splitDataSet(data, { kind: config.split, validFraction: config.validFraction, valClassFraction: config.valClassFraction, seed: config.seed }), (s) => s.summary);
  const backbone: Backbone = await stage('backbone', () => loadBackbone(config.backbone, { cacheDir: defaultBackboneCacheDir(config), weightsDir: path.resolve(PROJECT_ROOT, config.paths.weights) }), (b) => `${b.name}: ${b.featureDim}-d features at ${b.preprocess.imageSize} px (${b.preprocess.resize})`);
  try {
    const features = await stage('features', () => dataFeatures(config, data, backbone, { progressMode: 'lines' }), (f) => `${f.cache.count} rows of ${f.cache.dim}-d (cache ${path.relative(process.cwd(), f.cache.dir)}, data ${data.fingerprint.slice(0, 19)})`);
    const result = await trainEvaluateShip({ config, data, split, backbone, features, outDir, stage, jig: opts.jig ?? true });
    writeJsonAtomic(path.join(outDir, 'summary.json'), { ...result, stages });
    writeFileAtomic(path.join(outDir, 'stages.txt'), formatStages(stages) + '\n');
    return { ...result, stages };
  } finally {
    backbone.dispose();
  }
}

async function trainEvaluateShip(a: { config: Config; data: DataSet; split: DataSplit; backbone: Backbone; features: DataFeatures; outDir: string; stage: Stage; jig: boolean }): Promise<Omit<MainJobResult, 'stages'>> {
  const { config, data, split, backbone, features, outDir, stage } = a;
  const cache = features.cache;
  const held = heldOut(data, split, cache);
  const pcaDim = pcaWidth(config.embeddingDim, cache.dim, split.train.length);
  const baseline = await baselineStage(stage, { held, cache, pcaDim, seed: config.seed });
  // with >= 2 domains, the recipe and its epochs are chosen by how well heads trained without a domain do on it
  const recipes = parseRecipes(config.recipes);
  const search = await recipeSearchStage(stage, { config, held, cache, featureKey: features.key, recipes, pcaDim, gallery: baseline.reports, outDir: path.join(outDir, 'leave-out') });
  const plan = headPlan({ config, data, split, cache, backbone, featureKey: features.key, search, recipes });
  writeRunRecord(outDir, { config, data, split, backbone, features, plan });
  const init = await headInitWeights(plan.settings, plan.head, plan.sets.train);
  const model = createModel(plan.head, init.weights);
  try {
    const untrained = await scoreHead(held, model.head, config.embeddingDim);
    const headRun = await trainHeadStage(stage, { plan, init, model, split, backbone, outDir });
    const headOnly = await scoreHead(held, model.head, config.embeddingDim);
    const tuned = config.backboneEpochs > 0 ? await tuneBackboneStage(stage, { config: plan.settings, data, split, backbone, head: plan.head, headBest: headRun.best, headKey: headRun.key, outDir, model: plan.model }) : null;
    const evaluation = await evaluateStage(stage, { held, tuned, headOnly, untrained, baseline, pcaDim, embeddingDim: config.embeddingDim });
    const exported = await exportStage(stage, tuned?.best ?? headRun.best, path.join(outDir, 'export'));
    const zip = exported.zip!.file;
    await verifyStage(stage, { zip, tunedCheckpoint: tuned?.best ?? null, backbone, head: model.head });
    const evalDirs = await writeEvalFolders(data, split, outDir);
    const report = a.jig ? await jigStage(stage, { evalDirs, onnx: exported.onnx!.file, outDir }) : null;
    return {
      mP5: { raw: baseline.raw, pca64: baseline.pca64, whitened: baseline.whitened, whitenedGallery: baseline.whitenedGallery, untrainedHead: untrained.overall.mP5, headOnly: headOnly.overall.mP5, trainedHead: evaluation.overall.mP5 },
      pcaDim,
      metrics: evaluation,
      submission: zip,
      report,
      outDir,
      evalDirs,
      split: split.kind,
      domains: domainScores(evaluation, baseline.reports),
      leaveOut: search?.rows ?? null,
      recipes: { chosen: plan.recipe, epochs: plan.epochs, tried: search?.tried ?? [] },
    };
  } finally {
    model.dispose();
  }
}

export async function mainJobCommand(opts: { config?: string; data?: string; out?: string; split?: string; skipBad?: boolean }): Promise<MainJobResult> {
  const flags = { ...(opts.split === undefined ? {} : { split: opts.split }), ...(opts.skipBad ? { skipBad: true } : {}) };
  const config = mergeConfig(loadConfig(opts.config), validatePartial(flags, 'command-line flags'));
  const res = await runMainJob({ config, data: opts.data, outDir: opts.out });
  console.log('\n' + formatStages(res.stages));
  const shipped = res.stages.some((s) => s.stage === 'train backbone') ? `tuned backbone + head ${res.mP5.trainedHead.toFixed(4)} | head only ${res.mP5.headOnly.toFixed(4)}` : `trained head ${res.mP5.trainedHead.toFixed(4)}`;
  console.log(`\nheld-out mP@5 over ${res.metrics.overall.queries} queries: ${shipped} | whitened PCA-${res.pcaDim} ${res.mP5.whitened.toFixed(4)} (on the gallery: ${res.mP5.whitenedGallery.toFixed(4)}) | PCA-${res.pcaDim} ${res.mP5.pca64.toFixed(4)} | raw ${res.mP5.raw.toFixed(4)} | untrained head ${res.mP5.untrainedHead.toFixed(4)}`);
  const q = res.metrics.overall.queries;
  if (!res.stages.some((s) => s.stage === 'train backbone')) console.log('backbone stage: off (backboneEpochs 0): the head alone was trained');
  const verdict = res.stages.some((s) => s.stage === 'train backbone') ? backboneVerdict(res.mP5.trainedHead, res.mP5.headOnly, q) : null;
  if (verdict) console.log(`warning: ${verdict}`);
  if (q < FEW_QUERIES) console.log(`warning: ${fewQueries(q, res.split)}`);
  console.log(`  ${'domain'.padEnd(20)} ${'queries'.padStart(7)}  model   whitened  on gallery  PCA     raw`);
  for (const r of res.domains) console.log(`  ${r.domain.padEnd(20)} ${String(r.queries).padStart(7)}  ${[r.model, r.whitened, r.whitenedGallery, r.pca, r.raw].map((v) => v.toFixed(4)).join('  ')}`);
  if (res.leaveOut) {
    console.log(`head recipes, each trained leaving every domain out in turn (chosen by the held-out domains' own training rows; their queries below):`);
    console.log(`  ${'recipe'.padEnd(12)} validation  epochs  queries`);
    for (const t of res.recipes.tried) console.log(`  ${t.recipe.padEnd(12)} ${t.validation.toFixed(4).padStart(10)}  ${String(t.epochs).padStart(6)}  ${t.test.toFixed(4)}${t.recipe === res.recipes.chosen ? '  <- chosen' : ''}`);
    console.log(`leave-one-domain-out, recipe ${res.recipes.chosen} (a head trained without the domain, scored on it):`);
    console.log(`  ${'domain'.padEnd(20)} ${'queries'.padStart(7)}  epoch  trained whitened  on gallery  raw`);
    for (const r of res.leaveOut) console.log(`  ${r.domain.padEnd(20)} ${String(r.queries).padStart(7)}  ${String(r.epoch).padStart(5)}  ${[r.trained, r.whitened, r.whitenedGallery, r.raw].map((v) => v.toFixed(4)).join('  ')}${r.trained < r.whitened ? '  <- loses to whitening' : ''}`);
    if (res.leaveOut.length > 0) {
      const mean = (f: (r: LeaveOutScores) => number) => res.leaveOut!.reduce((acc, r) => acc + f(r), 0) / res.leaveOut!.length;
      console.log(`  ${'mean'.padEnd(20)} ${''.padStart(7)}  ${''.padStart(5)}  ${[mean((r) => r.trained), mean((r) => r.whitened), mean((r) => r.whitenedGallery), mean((r) => r.raw)].map((v) => v.toFixed(4)).join('  ')}  (trained - whitened ${(mean((r) => r.trained - r.whitened) >= 0 ? '+' : '')}${mean((r) => r.trained - r.whitened).toFixed(4)}; ${res.leaveOut.length} held-out domains, ${res.leaveOut.reduce((acc, r) => acc + r.queries, 0)} queries: +-${noise(res.leaveOut.reduce((acc, r) => acc + r.queries, 0)).toFixed(2)} on the mean, +-${noise(res.leaveOut[0].queries).toFixed(2)} per domain)`);
    }
  } else console.log('leave-one-domain-out: the training data has one domain (needs >= 2)');
  console.log(`submission: ${res.submission}`);
  if (res.report) console.log(`report:     ${res.report}`);
  console.log(`evaluate again: guie eval --model ${path.join(res.outDir, 'export', 'model.onnx')} --queries ${res.evalDirs.queries} --index ${res.evalDirs.index}`);
  return res;
}
