/**
 * The main job (`npm start`, `guie run [--data DIR]`): the whole notebook sequence on the bundled
 * default or on your own data, into one self-contained run folder. One stage function each:
 *   device -> data (records) -> split -> backbone -> features (cached by content) -> baselines (raw,
 *   PCA, whitened on train and on the gallery) -> leave-one-domain-out per head recipe (>= 2 domains:
 *   picks the recipe and its epochs) -> head training -> backbone stage -> evaluation on held-out
 *   queries, per domain -> export -> verify submission -> jig report
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadConfig, mergeConfig, validatePartial, type Config } from './config';
import { initBackend } from './device';
import { openDataSet, type DataSet } from './data/dataset';
import { imageExtension } from './data/image';
import { splitDataSet, type DataSplit } from './data/split';
import { readTfRecords } from './data/tfrecord';
import { decodeRecord } from './data/schema';
import type { SampleOptions } from './data/builders/sample';
import { defaultBackboneCacheDir, loadBackbone, type Backbone } from './model/backbones';
import type { EmbeddingHead } from './model/heads';
import { createFeatureEmbedder } from './model/tfjs-embedder';
import { loadModel } from './model-loader';
import { backboneStage } from './train/backbone-stage';
import type { CheckpointModel } from './train/checkpoint';
import { train, type TrainConfig } from './train/loop';
import { checkpointsDir, loadWeightsInto } from './train/run-checkpoints';
import { createModel, toEmbeddingHead, type HeadConfig, type TrainModel } from './train/model';
import { headInitWeights } from './train/head-init';
import { chooseRecipe, foldBaselines, foldDomains, leaveDomainOut, type RecipeResult } from './train/leave-domain-out';
import { parseRecipes, recipeConfig } from './train/recipes';
import type { FeatureCache } from './train/feature-cache';
import { dataFeatures, gatherRows, trainingSets, type DataFeatures } from './train/prepare';
import { fitBatch, headConfigFrom, trainConfigFrom } from './train/settings';
import { ExactIndex } from './retrieval/exact-index';
import { neighbourIds } from './retrieval/vector-index';
import { retrievalMetrics, type MetricsReport } from './retrieval/metrics';
import { solutionParts } from './retrieval/solution';
import { applyPca, fitPca } from './retrieval/pca';
import { writeTrainWhitening } from './retrieval/train-whitening';
import { buildExportGraph, exportModel, formatExportResult } from './export/export-model';
import { formatVerifyReport, verifySubmission } from './export/verify';
import { jigCommand } from './jig/commands';
import { writeFileAtomic, writeJsonAtomic } from './util/atomic';
import { lockFolder } from './util/lock';
import { PROJECT_ROOT } from './util/paths';

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

export interface StageRecord {
  stage: string;
  seconds: number;
  result: string;
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

export interface RecipeSummary {
  recipe: string;
  /** Mean held-out-domain validation mP@5 at its best epoch (what chose the recipe). */
  validation: number;
  epochs: number;
  /** Mean over the held-out domains of the fold heads' scores on the domains' queries (reported, never used to choose). */
  test: number;
}

export interface DomainScores {
  domain: string;
  queries: number;
  model: number;
  whitened: number;
  whitenedGallery: number;
  raw: number;
  pca: number;
}

export interface LeaveOutScores {
  domain: string;
  queries: number;
  /** Training rows left after dropping the domain. */
  trainRows: number;
  /** A head trained without the domain (the chosen recipe, head stage only), at the epoch the domain's own training rows chose. */
  trained: number;
  /** That epoch (0 = the untrained whitening start). */
  epoch: number;
  /** Whitened PCA fitted on the same training rows (without the domain). */
  whitened: number;
  whitenedGallery: number;
  raw: number;
}

/** Below this many held-out queries an mP@5 difference says little (standard error ~0.5/sqrt(n)). */
const FEW_QUERIES = 30;
const noise = (n: number) => 0.5 / Math.sqrt(n);
const fewQueries = (n: number, split: string) => `only ${n} held-out queries: mP@5 is +-${noise(n).toFixed(2)} noise at this size; add photos or classes, raise validFraction${split === 'images' ? '' : ', or try --split images'}`;

/** The backbone stage's effect on the held-out score, said as plainly as the query count allows; null when it helped. */
function backboneVerdict(tuned: number, headOnly: number, queries: number): string | null {
  if (tuned >= headOnly) return null;
  const within = headOnly - tuned <= noise(queries);
  return `the backbone stage lowered the held-out score (${headOnly.toFixed(4)} -> ${tuned.toFixed(4)}${within ? `, within the +-${noise(queries).toFixed(2)} noise of ${queries} queries` : ''}); the tuned model is the one exported: set backboneEpochs to 0 for the head alone, or lower backboneLr`;
}

type Stage = <T>(name: string, fn: () => Promise<T>, summary: (r: T) => string) => Promise<T>;

function embedRows(head: EmbeddingHead, features: Float32Array, dim: number): Float32Array {
  const y = tf.tidy(() => head.forward(tf.tensor2d(features, [features.length / dim, dim]), false));
  const out = Float32Array.from(y.dataSync());
  y.dispose();
  return out;
}

/** Host mP@5 of query vectors against index vectors (ids from the data set's rows). */
async function score(data: DataSet, split: DataSplit, queryVecs: Float32Array, indexVecs: Float32Array, dim: number): Promise<MetricsReport> {
  const indexIds = split.index.map((r) => data.rows[r].id);
  const index = new ExactIndex(dim);
  try {
    index.add(indexIds, indexVecs);
    const result = await index.search(queryVecs, Math.min(100, indexIds.length));
    const lists = neighbourIds(result, indexIds);
    const predictions = new Map(split.query.map((r, i) => [data.rows[r].id, lists[i]]));
    for (const id of [...predictions.keys()]) if (!split.solution.relevant.has(id)) predictions.delete(id); // held-out singletons
    const { relevance, breakdown } = solutionParts(split.solution);
    return retrievalMetrics(predictions, relevance, breakdown, [1, 5]);
  } finally {
    await index.dispose();
  }
}

const safeName = (s: string) => s.replace(/[/\\]/g, '__').replace(/^\.+/, '_') || '_';

/** The evaluation rows as image folders `<domain>/<class>/<id>.<ext>`, rewritten when data or split change. */
async function writeEvalFolders(data: DataSet, split: DataSplit, outDir: string): Promise<{ queries: string; index: string }> {
  const root = path.join(outDir, 'eval');
  const stamp = createHash('sha256').update(JSON.stringify([data.fingerprint, split.query, split.index])).digest('hex');
  const dirs = { queries: path.join(root, 'queries'), index: path.join(root, 'index') };
  const marker = path.join(root, 'complete.json');
  if (fs.existsSync(marker) && (JSON.parse(fs.readFileSync(marker, 'utf8')) as { stamp: string }).stamp === stamp) return dirs;
  const wanted = new Map<number, 'queries' | 'index'>([...split.query.map((r): [number, 'queries'] => [r, 'queries']), ...split.index.map((r): [number, 'index'] => [r, 'index'])]);
  // written beside, then swapped in: a killed run never leaves a half-written folder with a marker
  const tmp = `${root}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const [fi, file] of data.files.entries()) {
    let n = data.rows.findIndex((r) => r.file === fi);
    for await (const bytes of readTfRecords(file)) {
      const role = wanted.get(n);
      if (role) {
        const row = data.rows[n];
        const rec = decodeRecord(bytes, data.schema);
        const folder = path.join(tmp, role, safeName(row.source), safeName(data.classNames.get(row.label) ?? String(row.label)));
        fs.mkdirSync(folder, { recursive: true });
        fs.writeFileSync(path.join(folder, `${safeName(row.id)}${imageExtension(rec.image)}`), rec.image);
      }
      n++;
    }
  }
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(tmp, root);
  writeJsonAtomic(marker, { stamp });
  return dirs;
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
  const log = opts.log ?? ((l: string) => console.log(l));
  parseRecipes(config.recipes); // a misspelt recipe fails now, not after the data and features stages
  const stages: StageRecord[] = [];
  const stage: Stage = async (name, fn, summary) => {
    log(`== ${name}`);
    const t0 = Date.now();
    const r = await fn();
    const rec = { stage: name, seconds: (Date.now() - t0) / 1000, result: summary(r) };
    stages.push(rec);
    log(`   ${rec.result} (${rec.seconds.toFixed(1)} s)`);
    return r;
  };

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
  const dim = cache.dim;
  const queryFeats = gatherRows(cache, split.query);
  const indexFeats = gatherRows(cache, split.index);

  // PCA to the embedding width; a small training set (fewer rows than that) caps it at rows - 1
  const pcaDim = Math.min(config.embeddingDim, dim, split.train.length - 1);
  const baseline = await stage(
    'baseline',
    async () => {
      const raw = await score(data, split, queryFeats, indexFeats, dim);
      const pca = fitPca(gatherRows(cache, split.train), dim, pcaDim, { seed: config.seed });
      const pca64 = await score(data, split, applyPca(pca, queryFeats), applyPca(pca, indexFeats), pcaDim);
      const whitened = await score(data, split, applyPca(pca, queryFeats, true, true), applyPca(pca, indexFeats, true, true), pcaDim);
      // transductive: the whitening fitted on the gallery itself (what a host-side reduction could do)
      const galleryDim = Math.min(pcaDim, split.index.length - 1);
      const onGallery = fitPca(indexFeats, dim, galleryDim, { seed: config.seed });
      const whitenedGallery = await score(data, split, applyPca(onGallery, queryFeats, true, true), applyPca(onGallery, indexFeats, true, true), galleryDim);
      return { raw: raw.overall.mP5, pca64: pca64.overall.mP5, whitened: whitened.overall.mP5, whitenedGallery: whitenedGallery.overall.mP5, reports: { raw, pca64, whitened, whitenedGallery } };
    },
    (b) => `mP@5 raw ${dim}-d ${b.raw.toFixed(4)}, PCA-${pcaDim} ${b.pca64.toFixed(4)}, whitened PCA-${pcaDim} ${b.whitened.toFixed(4)} (fitted on the training rows); whitened on the gallery ${b.whitenedGallery.toFixed(4)} (transductive reference)`,
  );

  // with >= 2 domains, the recipe and its epochs are chosen by how well heads trained without a domain do on it
  const recipes = parseRecipes(config.recipes);
  const search =
    foldDomains(data, split).length > 0
      ? await stage(
          'leave domain out',
          () => recipeSearch({ config, data, split, cache, featureKey: features.key, recipes, pcaDim, gallery: baseline.reports, outDir: path.join(outDir, 'leave-out') }),
          formatSearch,
        )
      : null;
  const settings = recipeConfig(config, search?.chosen.recipe ?? recipes[0]);
  // the held-out domains may prefer the untrained start (epoch 0); the export path needs one trained epoch
  const epochs = search ? Math.max(1, search.chosen.epochs) : null;
  const sets = trainingSets(data, split, cache);
  const head: HeadConfig = headConfigFrom(settings, dim, sets.numClasses);
  const fitted = fitBatch({ ...trainConfigFrom(settings), progressMode: 'lines', ...(epochs === null ? {} : { stopAfterEpochs: epochs }) }, sets.train.size);
  const trainCfg: TrainConfig = fitted.cfg;
  const trainDir = path.join(outDir, 'train');
  const modelMeta: CheckpointModel = { backbone: backbone.name, preprocess: backbone.preprocess, head, data: { input: data.input, fingerprint: data.fingerprint, split: split.kind }, featureKey: features.key };
  writeJsonAtomic(path.join(outDir, 'run.json'), {
    data: { origin: data.origin, input: data.input, records: data.recordsDir, files: data.files.length, images: data.rows.length, fingerprint: data.fingerprint },
    split: { kind: split.kind, summary: split.summary, train: split.train.length, val: split.val.length, queries: split.solution.relevant.size, index: split.index.length },
    backbone: { name: backbone.name, preprocess: backbone.preprocess },
    features: { dir: cache.dir, key: features.key },
    config,
    recipe: search ? { chosen: search.chosen.recipe, epochs, by: 'leave-one-domain-out validation' } : { chosen: recipes[0], epochs: null, by: 'the configured recipe (one domain: nothing to leave out)' },
    head,
    train: trainCfg,
  });
  const init = await headInitWeights(settings, head, sets.train);
  const model: TrainModel = createModel(head, init.weights);
  try {
    const untrained = toEmbeddingHead(model);
    const untrainedScore = await score(data, split, embedRows(untrained, queryFeats, dim), embedRows(untrained, indexFeats, dim), config.embeddingDim);
    untrained.dispose();
    // A finished run is reused only for the same settings, features (the key names backbone, pixels and data) and split.
    const runKey = JSON.stringify({ head, trainCfg, headInit: settings.headInit, featureKey: features.key, split: createHash('sha256').update(JSON.stringify([split.train, split.val])).digest('hex') });
    const doneFile = path.join(trainDir, 'done.json');
    const reuse = fs.existsSync(doneFile) && (JSON.parse(fs.readFileSync(doneFile, 'utf8')) as { key: string }).key === runKey;
    const best = path.join(checkpointsDir(trainDir), 'best');
    await stage(
      'train head',
      async () => {
        const whitening = () => init.whitening && writeTrainWhitening(trainDir, { backbone: backbone.name, rows: sets.train.size, featureKey: features.key, pca: init.whitening }); // export carries it: eval's training-data baseline
        if (reuse) {
          whitening(); // deterministic (same features and split): also gives runs finished before it existed their file
          loadWeightsInto(model, best);
          return { reused: true, best: (JSON.parse(fs.readFileSync(doneFile, 'utf8')) as { best: number | null }).best };
        }
        fs.rmSync(trainDir, { recursive: true, force: true });
        fs.mkdirSync(trainDir, { recursive: true });
        whitening();
        // epochs chosen on held-out domains: the last one is kept, in-domain validation chooses nothing
        const res = await train(model, epochs === null ? sets : { train: sets.train, val: null }, trainCfg, { outDir: trainDir, log: () => undefined, model: modelMeta });
        loadWeightsInto(model, best);
        writeJsonAtomic(doneFile, { key: runKey, best: res.best?.metric ?? null, epoch: res.best?.epoch ?? null });
        return { reused: false, best: res.best?.metric ?? null };
      },
      (r) =>
        `recipe ${search?.chosen.recipe ?? recipes[0]}: ${head.margin} head${settings.headInit === 'whitening' && !init.note ? ' from the whitened PCA' : ''} on ${sets.train.size} cached features of ${head.numClasses} classes, ` +
        (epochs === null ? `${settings.epochs} epochs; ` : `${epochs} of ${settings.epochs} epochs (the peak of the held-out-domain validation${search!.chosen.epochs === 0 ? '; it preferred the untrained start, 1 epoch is the least the export takes' : ''}); `) +
        (r.best === null || epochs !== null ? 'last epoch kept' : `best val mP@5 ${r.best.toFixed(4)}`) +
        (r.reused ? ' (reused finished run)' : '') +
        (fitted.note ? `; ${fitted.note}` : '') +
        (init.note ? `; ${init.note}` : ''),
    );
    const trained = toEmbeddingHead(model);
    const headOnly = await score(data, split, embedRows(trained, queryFeats, dim), embedRows(trained, indexFeats, dim), config.embeddingDim);
    const tuned = config.backboneEpochs > 0 ? await backboneStep({ config: settings, data, split, backbone, head, headBest: best, headKey: runKey, outDir, stage, model: modelMeta }) : null;
    const evaluation = await stage(
      'evaluate',
      async () => (tuned ? score(data, split, tuned.query, tuned.index, config.embeddingDim) : headOnly),
      (m) =>
        `held-out mP@5 ${tuned ? `tuned backbone + head ${m.overall.mP5.toFixed(4)}, head only ${headOnly.overall.mP5.toFixed(4)}` : `trained head ${m.overall.mP5.toFixed(4)}`} vs whitened PCA-${pcaDim} ${baseline.whitened.toFixed(4)}, PCA-${pcaDim} ${baseline.pca64.toFixed(4)} (untrained head ${untrainedScore.overall.mP5.toFixed(4)}; ${m.overall.queries} queries)` +
        (m.overall.mP5 < baseline.whitened ? `; warning: the trained model loses to the training-free whitened PCA-${pcaDim} (try headInit "whitening")` : '') +
        (tuned && backboneVerdict(m.overall.mP5, headOnly.overall.mP5, m.overall.queries) ? `; warning: ${backboneVerdict(m.overall.mP5, headOnly.overall.mP5, m.overall.queries)}` : '') +
        (m.byUsage.Public ? `; Public ${m.byUsage.Public.mP5.toFixed(4)} Private ${m.byUsage.Private?.mP5.toFixed(4)}` : '') +
        (m.overall.queries < FEW_QUERIES ? `; warning: ${fewQueries(m.overall.queries, split.kind)}` : ''),
    );

    const domainOf = (m: MetricsReport, d: string) => m.byDomain[d]?.mP5 ?? NaN;
    const domains: DomainScores[] = Object.entries(evaluation.byDomain).map(([d, m]) => ({
      domain: d,
      queries: m.queries,
      model: m.mP5,
      whitened: domainOf(baseline.reports.whitened, d),
      whitenedGallery: domainOf(baseline.reports.whitenedGallery, d),
      raw: domainOf(baseline.reports.raw, d),
      pca: domainOf(baseline.reports.pca64, d),
    }));
    const exportDir = path.join(outDir, 'export');
    const exported = await stage(
      'export',
      async () => {
        const built = await buildExportGraph({ checkpoint: tuned?.best ?? best });
        return exportModel(built.graph, exportDir, { whitening: built.whitening });
      },
      (r) => formatExportResult(r).split('\n').map((l) => l.trim()).join('; '),
    );
    const zip = exported.zip!.file;
    // the training side's embedder: the tuned backbone + head as the checkpoint holds them, or the frozen backbone + trained head
    const reference = tuned ? (await loadModel(tuned.best)).embedder : createFeatureEmbedder({ ...backbone, dispose: () => undefined }, trained, { name: 'training-side tfjs' });
    const verified = await stage('verify submission', () => verifySubmission(zip, { reference }), (r) => (r.ok ? `ok: ${formatVerifyReport(r).split('\n')[0]}` : `FAILED: ${formatVerifyReport(r)}`)).finally(() => tuned && reference.dispose());
    if (!verified.ok) throw new Error(`verify-submission failed:\n${formatVerifyReport(verified)}`);

    const evalDirs = await writeEvalFolders(data, split, outDir);
    let report: string | null = null;
    if (a.jig) {
      report = path.join(outDir, 'jig-report.html');
      await stage(
        'jig report',
        () => jigCommand({ gallery: evalDirs.index, queries: evalDirs.queries, model: exported.onnx!.file, out: report!, k: 5, cacheDir: path.join(outDir, 'jig-cache') }, () => undefined),
        (r) => `${r.queries.length} queries, mP@5 ${r.metrics?.overall.mP5.toFixed(4) ?? 'n/a'} through the exported ONNX model -> ${path.relative(process.cwd(), report!)}`,
      );
    }
    trained.dispose();
    return {
      mP5: { raw: baseline.raw, pca64: baseline.pca64, whitened: baseline.whitened, whitenedGallery: baseline.whitenedGallery, untrainedHead: untrainedScore.overall.mP5, headOnly: headOnly.overall.mP5, trainedHead: evaluation.overall.mP5 },
      pcaDim,
      metrics: evaluation,
      submission: zip,
      report,
      outDir,
      evalDirs,
      split: split.kind,
      domains,
      leaveOut: search?.rows ?? null,
      recipes: { chosen: search?.chosen.recipe ?? recipes[0], epochs, tried: search?.tried ?? [] },
    };
  } finally {
    model.dispose();
  }
}

interface SearchResult {
  chosen: RecipeResult;
  tried: RecipeSummary[];
  rows: LeaveOutScores[];
}

/** Every recipe left-one-domain-out (lib/train/leave-domain-out.ts), the chosen one's folds beside the training-free baselines of the same rows. */
async function recipeSearch(a: { config: Config; data: DataSet; split: DataSplit; cache: FeatureCache; featureKey: string; recipes: string[]; pcaDim: number; gallery: { raw: MetricsReport; whitenedGallery: MetricsReport }; outDir: string }): Promise<SearchResult> {
  const scorer = (q: Float32Array, x: Float32Array, dim: number) => score(a.data, a.split, q, x, dim);
  const base = await foldBaselines({ data: a.data, split: a.split, cache: a.cache, score: scorer, pcaDim: a.pcaDim, seed: a.config.seed });
  const results: RecipeResult[] = [];
  for (const recipe of a.recipes) results.push(await leaveDomainOut({ config: a.config, data: a.data, split: a.split, cache: a.cache, featureKey: a.featureKey, score: scorer, outDir: a.outDir, recipe }));
  const chosen = chooseRecipe(results);
  const rows = chosen.folds.map((f): LeaveOutScores => {
    const b = base.find((x) => x.domain === f.domain)!;
    return { domain: f.domain, queries: b.queries, trainRows: f.trainRows, trained: f.test, epoch: f.bestEpoch, whitened: b.whitened, whitenedGallery: a.gallery.whitenedGallery.byDomain[f.domain].mP5, raw: a.gallery.raw.byDomain[f.domain].mP5 };
  });
  const tried = results.map((r) => ({ recipe: r.recipe, validation: r.score, epochs: r.epochs, test: r.folds.reduce((acc, f) => acc + f.test, 0) / r.folds.length }));
  return { chosen, tried, rows };
}

function formatSearch(s: SearchResult): string {
  const losers = s.rows.filter((r) => r.trained < r.whitened).map((r) => r.domain);
  return (
    `recipes by mean held-out-domain validation: ${s.tried.map((t) => `${t.recipe} ${t.validation.toFixed(4)} at epoch ${t.epochs}`).join(', ')}; chosen ${s.chosen.recipe}; ` +
    s.rows.map((r) => `${r.domain}: trained without it ${r.trained.toFixed(4)} vs whitened ${r.whitened.toFixed(4)} (on the gallery ${r.whitenedGallery.toFixed(4)}, raw ${r.raw.toFixed(4)}; ${r.queries} queries)`).join('; ') +
    (losers.length > 0 ? `; warning: the trained head loses to the training-free whitening on ${losers.join(', ')}` : '')
  );
}

/** The backbone stage after the head (backboneEpochs > 0): its best checkpoint and the held-out embeddings it gives. */
async function backboneStep(a: { config: Config; data: DataSet; split: DataSplit; backbone: Backbone; head: HeadConfig; headBest: string; headKey: string; outDir: string; stage: Stage; model: CheckpointModel }): Promise<{ best: string; query: Float32Array; index: Float32Array }> {
  const dir = path.join(a.outDir, 'train', 'backbone');
  const rows = [...a.split.query, ...a.split.index];
  const c = a.config;
  // a finished stage is reused for the same head run and stage settings (resume of a finished run trains nothing)
  const key = JSON.stringify({ head: a.headKey, stage: [c.backboneEpochs, c.backboneBlocks, c.backboneLr, c.headLock, c.layerDecay, c.ema, c.anchor] });
  const doneFile = path.join(dir, 'done.json');
  const reuse = fs.existsSync(doneFile) && (JSON.parse(fs.readFileSync(doneFile, 'utf8')) as { key: string }).key === key;
  if (!reuse) fs.rmSync(dir, { recursive: true, force: true });
  const res = await a.stage(
    'train backbone',
    async () => {
      const r = await backboneStage({ config: c, data: a.data, split: a.split, backbone: a.backbone, head: a.head, headCheckpoint: a.headBest, outDir: dir, resume: reuse, model: a.model, embedRows: rows, progressMode: 'lines', log: () => undefined });
      writeJsonAtomic(doneFile, { key, best: r.best?.metric ?? null });
      return r;
    },
    (r) => `${r.summary}, ${c.backboneEpochs} epochs at backbone lr ${c.backboneLr}; ` + (r.best === null ? 'no per-epoch validation: last epoch kept' : `best val mP@5 ${r.best.metric.toFixed(4)}`) + (reuse ? ' (reused finished run)' : ''),
  );
  const d = c.embeddingDim;
  const q = a.split.query.length;
  return { best: path.join(checkpointsDir(dir), 'best'), query: res.embeddings!.slice(0, q * d), index: res.embeddings!.slice(q * d) };
}

export function formatStages(stages: StageRecord[]): string {
  const w = Math.max(...stages.map((s) => s.stage.length));
  const total = stages.reduce((a, s) => a + s.seconds, 0);
  return [
    `${'stage'.padEnd(w)}  ${'time'.padStart(8)}  result`,
    ...stages.map((s) => `${s.stage.padEnd(w)}  ${s.seconds.toFixed(1).padStart(7)}s  ${s.result}`),
    `${'total'.padEnd(w)}  ${total.toFixed(1).padStart(7)}s`,
  ].join('\n');
}

export async function mainJobCommand(opts: { config?: string; data?: string; out?: string; split?: string }): Promise<MainJobResult> {
  const config = mergeConfig(loadConfig(opts.config), validatePartial(opts.split === undefined ? {} : { split: opts.split }, '--split'));
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
