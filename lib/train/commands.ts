/**
 * `guie train`: head training on cached backbone features. Missing caches are built first from
 * the record files under config paths.data (split by file 90/10 as the reference notebook, a few
 * files in DEBUG) with the config's frozen backbone; lr, epochs, head sizes and seed come from
 * the shared config file.
 */
import type { Command } from 'commander';
import * as path from 'path';
import { loadConfig } from '../config';
import { initBackend } from '../device';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic';
import { pageHtml } from '../viz/plotly';
import { readMetricsLog, trainingCurvesFigure } from './curves';
import * as fs from 'fs';
import { debugSubset, listShards, splitShards } from '../data/pipeline';
import { loadBackbone } from '../model/backbones';
import type { Config } from '../config';
import { cacheBackboneFeatures } from './backbone-features';
import { cacheDataset, loadFeatureCache } from './feature-cache';
import { DEFAULT_TRAIN_CONFIG, train, TrainConfig, TrainingDivergedError, TrainResult } from './loop';
import { createModel, HeadConfig, initHeadWeights, MarginKind } from './model';
import type { OptimizerKind } from './optim';
import type { ScheduleKind } from './schedule';

export interface TrainCommandOptions {
  config?: string;
  trainFeatures?: string;
  valFeatures?: string;
  out?: string;
  resume?: boolean;
  epochs?: string;
  optimizer?: string;
  schedule?: string;
  accum?: string;
  clip?: string;
  checkpointEvery?: string;
  keep?: string;
  margin?: string;
  subCenters?: string;
  smoothing?: string;
  progress?: 'bar' | 'lines' | 'silent';
}

function int(name: string, v: string | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

function num(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number >= 0, got "${v}"`);
  return n;
}

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}

function cacheComplete(dir: string): boolean {
  const meta = path.join(dir, 'meta.json');
  if (!fs.existsSync(meta)) return false;
  const m = JSON.parse(fs.readFileSync(meta, 'utf8')) as { done?: number; total?: number };
  return m.done === m.total;
}

/** Builds (or finishes) the train/val feature caches from config.paths.data with config.backbone. */
export async function buildCachesFromConfig(config: Config, trainDir: string, valDir: string | null): Promise<void> {
  let files = listShards([path.resolve(config.paths.data)]);
  if (files.length === 0) throw new Error(`${path.resolve(config.paths.data)}: no .tfrec/.tfrecord files to build feature caches from`);
  if (config.debug) files = debugSubset(files, config.debugShards, config.seed);
  const split = splitShards(files, valDir ? config.validFraction : 0, config.seed);
  const backbone = await loadBackbone(config.backbone);
  try {
    await cacheBackboneFeatures({ files: split.train, backbone, dir: trainDir, batchSize: config.batchSize });
    if (valDir && split.valid.length > 0) await cacheBackboneFeatures({ files: split.valid, backbone, dir: valDir, batchSize: config.batchSize });
  } finally {
    backbone.dispose();
  }
}

/** Resolves options + config file into the loop's inputs and runs it. */
export async function trainCommand(opts: TrainCommandOptions): Promise<TrainResult> {
  await initBackend();
  const config = loadConfig(opts.config);
  const trainDir = path.resolve(opts.trainFeatures ?? path.join(config.paths.cache, 'features-train'));
  const valDir = opts.valFeatures ?? path.join(config.paths.cache, 'features-val');
  const outDir = path.resolve(opts.out ?? path.join(config.paths.outputs, 'train'));
  const valPath = opts.valFeatures === 'none' ? null : path.resolve(valDir);
  // explicit cache directories must exist; the default ones are built from the record files on first use
  if (!opts.trainFeatures && (!cacheComplete(trainDir) || (valPath && !opts.valFeatures && !cacheComplete(valPath)))) {
    await buildCachesFromConfig(config, trainDir, valPath);
  }
  const trainCache = loadFeatureCache(trainDir);
  const valCache = valPath ? loadFeatureCache(valPath) : null;
  let numClasses = 0;
  for (const l of trainCache.labels) numClasses = Math.max(numClasses, l + 1);
  const head: HeadConfig = {
    inputDim: trainCache.dim,
    embeddingDim: config.embeddingDim,
    numClasses,
    dropout: config.dropout,
    margin: oneOf<MarginKind>('margin', opts.margin, ['arcface', 'cosface'], 'arcface'),
    scale: config.arcScale,
    marginValue: config.arcMargin,
    subCenters: int('sub-centers', opts.subCenters, 1, 1),
    labelSmoothing: num('smoothing', opts.smoothing, 0),
  };
  const cfg: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG,
    seed: config.seed,
    stages: [{ name: 'head', epochs: int('epochs', opts.epochs, config.epochs, 1), train: '^head\\.' }],
    batchSize: config.batchSize,
    accumSteps: int('accum', opts.accum, 1, 1),
    clipNorm: num('clip', opts.clip, 0),
    optimizer: { kind: oneOf<OptimizerKind>('optimizer', opts.optimizer, ['adamw', 'sgd'], 'adamw') },
    lr: config.lr,
    backboneLr: config.backboneLr,
    weightDecay: config.weightDecay,
    schedule: { kind: oneOf<ScheduleKind>('schedule', opts.schedule, ['linear', 'cosine', 'multistep', 'constant'], 'linear'), warmupSteps: config.warmupSteps },
    checkpointEvery: int('checkpoint-every', opts.checkpointEvery, DEFAULT_TRAIN_CONFIG.checkpointEvery, 1),
    keepLast: int('keep', opts.keep, DEFAULT_TRAIN_CONFIG.keepLast, 1),
    progressMode: opts.progress,
  };
  if (!opts.resume) writeJsonAtomic(path.join(outDir, 'run.json'), { head, train: cfg, trainFeatures: trainDir, valFeatures: valCache?.dir ?? null });
  const model = createModel(head, initHeadWeights(head, config.seed));
  try {
    const res = await train(model, { train: cacheDataset(trainCache), val: valCache ? cacheDataset(valCache) : null }, cfg, { outDir, resume: opts.resume });
    const curves = trainingCurvesFigure(readMetricsLog(path.join(outDir, 'metrics.jsonl')), `training ${path.basename(outDir)}`);
    writeFileAtomic(path.join(outDir, 'curves.html'), pageHtml(`training ${outDir}`, [curves]));
    return res;
  } finally {
    model.dispose();
  }
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train the embedding head (Dropout, Dense(64), L2 + margin softmax) on cached backbone features; validates mP@5 each epoch')
    .option('--config <file>', 'JSON config (lr, epochs, batchSize, seed, dropout, arcScale, arcMargin, ...)')
    .option('--train-features <dir>', 'train feature cache (default <paths.cache>/features-train, built from <paths.data> record files when missing)')
    .option('--val-features <dir>', 'validation feature cache, or "none" (default <paths.cache>/features-val)')
    .option('--out <dir>', 'run directory: checkpoints/, metrics.jsonl, curves.html, run.json (default <paths.outputs>/train)')
    .option('--resume', 'continue from the newest checkpoint in --out')
    .option('--epochs <n>', 'override config epochs')
    .option('--optimizer <name>', 'adamw | sgd')
    .option('--schedule <name>', 'linear | cosine | multistep | constant (after warmupSteps)')
    .option('--accum <n>', 'micro-batches per optimizer step')
    .option('--clip <norm>', 'global gradient-norm clip (0 = off)')
    .option('--checkpoint-every <steps>', 'optimizer steps between checkpoints (plus each epoch end)')
    .option('--keep <n>', 'step checkpoints to keep (the best one is kept apart)')
    .option('--margin <kind>', 'arcface | cosface')
    .option('--sub-centers <k>', 'sub-centers per class')
    .option('--smoothing <eps>', 'label smoothing')
    .option('--progress <mode>', 'bar | lines | silent')
    .action(async (opts: TrainCommandOptions) => {
      try {
        const res = await trainCommand(opts);
        const best = res.best ? `best val mP@5 ${res.best.metric.toFixed(4)} (epoch ${res.best.epoch})` : 'no validation';
        console.log(`training done: ${best}; last checkpoint ${res.lastCheckpoint}`);
      } catch (e) {
        if (e instanceof TrainingDivergedError) {
          console.error(`guie train: ${e.message}`);
          process.exitCode = 2;
          return;
        }
        throw e;
      }
    });
}
