/**
 * `guie train`: head training on cached backbone features of your data (config paths.data, or
 * --data; empty = the bundled sample): data -> split -> features (cached by content) -> head,
 * the same stages as the main job. Settings come from the one Config (lib/config.ts); flags
 * here override single keys. Explicit --train-features/--val-features train on caches made elsewhere.
 */
import type { Command } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { describeConfig, loadConfig, mergeConfig, validatePartial, type Config } from '../config';
import { openDataSet } from '../data/dataset';
import { splitDataSet } from '../data/split';
import { initBackend } from '../device';
import { loadBackbone } from '../model/backbones';
import { writeJsonAtomic } from '../util/atomic';
import { lockFolder } from '../util/lock';
import { PROJECT_ROOT } from '../util/paths';
import { writePage } from '../viz/plotly';
import type { CheckpointModel } from './checkpoint';
import { readMetricsLog, trainingCurvesFigure } from './curves';
import { cacheDataset, loadFeatureCache } from './feature-cache';
import { train } from './loop';
import { TrainingDivergedError, type Dataset, type TrainConfig, type TrainResult } from './train-config';
import { checkpointsDir } from './run-checkpoints';
import { backboneStage } from './backbone-stage';
import { soupCheckpoints } from './soup';
import type { DataSet } from '../data/dataset';
import type { DataSplit } from '../data/split';
import type { Backbone } from '../model/backbones';
import { createModel, type HeadConfig } from './model';
import { headInitWeights } from './head-init';
import { TRAIN_WHITENING, writeTrainWhitening } from '../retrieval/train-whitening';
import { dataFeatures, trainingSets } from './prepare';
import { fitBatch, headConfigFrom, trainConfigFrom } from './settings';

export interface TrainCommandOptions {
  config?: string;
  data?: string;
  split?: string;
  skipBad?: boolean;
  vitWeights?: string;
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

/** Flag -> config key; values are validated by the config schema like any other source. */
const FLAG_KEYS: Array<[keyof TrainCommandOptions, keyof Config]> = [
  ['split', 'split'],
  ['epochs', 'epochs'],
  ['optimizer', 'optimizer'],
  ['schedule', 'schedule'],
  ['accum', 'accumSteps'],
  ['clip', 'clipNorm'],
  ['checkpointEvery', 'checkpointEvery'],
  ['keep', 'keepLast'],
  ['margin', 'margin'],
  ['subCenters', 'subCenters'],
  ['smoothing', 'labelSmoothing'],
];

export function configWithFlags(opts: TrainCommandOptions): Config {
  const over: Record<string, unknown> = {};
  for (const [flag, key] of FLAG_KEYS) {
    const v = opts[flag];
    if (typeof v !== 'string') continue;
    over[key] = v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  if (opts.skipBad) over.skipBad = true;
  return mergeConfig(loadConfig(opts.config), validatePartial(over, 'command-line flags'));
}

interface TrainInputs {
  sets: { train: Dataset; val: Dataset | null; numClasses: number };
  inputDim: number;
  model?: CheckpointModel;
  describe: Record<string, unknown>;
  /** What a backbone stage needs after the head (data-backed runs only); the caller disposes the backbone. */
  source?: { data: DataSet; split: DataSplit; backbone: Backbone };
}

/** Training and validation sets from explicit cache folders (made by another run or tool). */
function fromCaches(trainDir: string, valDir: string | undefined): TrainInputs {
  const trainCache = loadFeatureCache(path.resolve(trainDir));
  const valCache = valDir && valDir !== 'none' ? loadFeatureCache(path.resolve(valDir)) : null;
  let numClasses = 0;
  for (const l of trainCache.labels) numClasses = Math.max(numClasses, l + 1);
  return {
    sets: { train: cacheDataset(trainCache), val: valCache ? cacheDataset(valCache) : null, numClasses },
    inputDim: trainCache.dim,
    describe: { trainFeatures: trainCache.dir, valFeatures: valCache?.dir ?? null },
  };
}

/** Data set -> split -> backbone features -> sets, as the main job does. */
async function fromData(config: Config, opts: TrainCommandOptions, outDir: string): Promise<TrainInputs> {
  const log = opts.progress === 'silent' ? () => undefined : (l: string) => console.log(l);
  const data = await openDataSet(config, { recordsDir: path.join(outDir, 'records') }, opts.data ?? config.paths.data);
  log(data.summary);
  const split = splitDataSet(data, { kind: config.split, validFraction: config.validFraction, valClassFraction: config.valClassFraction, seed: config.seed });
  log(split.summary);
  const backbone = await loadBackbone(config.backbone, { weightsFile: opts.vitWeights, weightsDir: path.resolve(PROJECT_ROOT, config.paths.weights) });
  try {
    const features = await dataFeatures(config, data, backbone, { progressMode: opts.progress });
    const sets = trainingSets(data, split, features.cache);
    const head = headConfigFrom(config, features.cache.dim, sets.numClasses);
    const model: CheckpointModel = { backbone: backbone.name, preprocess: backbone.preprocess, head, data: { input: data.input, fingerprint: data.fingerprint, split: split.kind }, featureKey: features.key };
    return {
      sets,
      inputDim: features.cache.dim,
      model,
      describe: { data: { origin: data.origin, input: data.input, fingerprint: data.fingerprint, images: data.rows.length }, split: { kind: split.kind, summary: split.summary }, backbone: backbone.name, features: { dir: features.cache.dir, key: features.key } },
      source: { data, split, backbone },
    };
  } catch (e) {
    backbone.dispose();
    throw e;
  }
}

/** Settings a resumed run must share with the one it continues (the loop's schedule and both stages). */
const RESUME_KEYS = ['seed', 'epochs', 'batchSize', 'lr', 'weightDecay', 'warmupSteps', 'optimizer', 'schedule', 'accumSteps', 'clipNorm', 'ema', 'anchor', 'headInit', 'backboneEpochs', 'backboneBlocks', 'backboneLr', 'layerDecay', 'headLock'] as const satisfies readonly (keyof Config)[];

/** Resolves config + flags into the loop's inputs and runs it. */
export async function trainCommand(opts: TrainCommandOptions): Promise<TrainResult> {
  await initBackend();
  const config = configWithFlags(opts);
  const outDir = path.resolve(opts.out ?? path.join(config.paths.outputs, 'train'));
  const release = lockFolder(outDir, 'guie train');
  try {
    return await trainInLockedFolder(config, opts, outDir);
  } finally {
    release();
  }
}

async function trainInLockedFolder(config: Config, opts: TrainCommandOptions, outDir: string): Promise<TrainResult> {
  const inputs = opts.trainFeatures ? fromCaches(opts.trainFeatures, opts.valFeatures) : await fromData(config, opts, outDir);
  try {
    const head = headConfigFrom(config, inputs.inputDim, inputs.sets.numClasses);
    const fitted = fitBatch({ ...trainConfigFrom(config), progressMode: opts.progress }, inputs.sets.train.size);
    if (fitted.note) console.log(fitted.note);
    const cfg = fitted.cfg;
    const runFile = path.join(outDir, 'run.json');
    if (opts.resume && fs.existsSync(runFile)) {
      // never continue a run on features of other data, another backbone or other settings
      const prior = JSON.parse(fs.readFileSync(runFile, 'utf8')) as { features?: { key?: string }; head?: unknown; config?: Partial<Config> };
      const now = (inputs.describe.features as { key?: string } | undefined)?.key;
      if (prior.features?.key !== now) throw new Error(`${runFile}: that run trained on other features (${prior.features?.key ?? 'unknown'}); now ${now ?? 'explicit caches'}: start a new --out instead of --resume`);
      if (JSON.stringify(prior.head) !== JSON.stringify(head)) throw new Error(`${runFile}: that run's head settings differ from the current config; start a new --out instead of --resume`);
      // a resumed run replays the same schedule: other epochs, lr or stage settings would splice two runs into one
      const changed = RESUME_KEYS.filter((k) => prior.config && JSON.stringify(prior.config[k]) !== JSON.stringify(config[k]));
      if (changed.length > 0) throw new Error(`${runFile}: that run was trained with other settings (${changed.map((k) => `${k} ${JSON.stringify(prior.config![k])} -> ${JSON.stringify(config[k])}`).join(', ')}); --resume continues a run with its own settings: start a new --out to train with these`);
    }
    if (!opts.resume) writeJsonAtomic(runFile, { ...inputs.describe, config, head, train: cfg });
    return await headThenBackbone(config, opts, outDir, inputs, head, cfg);
  } finally {
    inputs.source?.backbone.dispose();
  }
}

/** The head stage on features, then (backboneEpochs > 0) the backbone stage on images. */
async function headThenBackbone(config: Config, opts: TrainCommandOptions, outDir: string, inputs: TrainInputs, head: HeadConfig, cfg: TrainConfig): Promise<TrainResult> {
  const init = await headInitWeights(config, head, inputs.sets.train);
  if (init.note) console.log(init.note);
  const model = createModel(head, init.weights);
  try {
    let res = await train(model, inputs.sets, cfg, { outDir, resume: opts.resume, model: inputs.model });
    // written once the folder took this run: the training-data baseline `guie eval` and the jig score its export against
    if (init.whitening && inputs.model) writeTrainWhitening(outDir, { backbone: inputs.model.backbone, rows: inputs.sets.train.size, featureKey: inputs.model.featureKey, pca: init.whitening });
    else fs.rmSync(path.join(outDir, TRAIN_WHITENING), { force: true });
    const curves = trainingCurvesFigure(readMetricsLog(path.join(outDir, 'metrics.jsonl')), `training ${path.basename(outDir)}`);
    writePage(path.join(outDir, 'curves.html'), `training ${outDir}`, [curves]);
    const log = opts.progress === 'silent' ? undefined : (l: string) => console.log(l);
    // explicit feature caches hold no images: the backbone stage needs the data
    if (config.backboneEpochs > 0 && !inputs.source) console.log(`backbone stage skipped: --train-features holds features only (give --data to tune the backbone, or set backboneEpochs 0)`);
    if (config.backboneEpochs > 0 && inputs.source) {
      const { data, split, backbone } = inputs.source;
      log?.(`backbone stage: ${config.backboneEpochs} epochs, backbone lr ${config.backboneLr}, head ${config.headLock ? 'frozen' : `at lr ${config.lr}`} -> ${path.join(outDir, 'backbone')}`);
      const stage = await backboneStage({ config, data, split, backbone, head, headCheckpoint: path.join(checkpointsDir(outDir), 'best'), outDir: path.join(outDir, 'backbone'), resume: opts.resume, model: inputs.model!, progressMode: opts.progress, log });
      log?.(`backbone stage done: ${stage.summary}`);
      res = stage;
    }
    return res;
  } finally {
    model.dispose();
  }
}

export function register(program: Command): void {
  program
    .command('soup')
    .description('model soup: average the weights of several checkpoints of one model (epochs of a run, or runs from the same start) into a new checkpoint that export, eval and embed take; checkpoints that all hold weight averages (ema) are souped from those')
    .argument('<checkpoints...>', 'checkpoint folders (ckpt-*, best) or train folders (their best)')
    .requiredOption('--out <dir>', 'the averaged checkpoint folder to write')
    .action((checkpoints: string[], o: { out: string }) => {
      const r = soupCheckpoints(checkpoints, o.out);
      console.log(`soup of ${r.from.length} checkpoints (${r.tensors} tensors, ${r.averaged === 'ema' ? 'their weight averages (ema)' : 'their weights'}) -> ${r.dir}\n  ${r.from.join('\n  ')}\nexport it: guie export --checkpoint ${r.dir} --out <dir>`);
    });
  program
    .command('train')
    .description('train the embedding head (Dropout, Dense(64), L2 + margin softmax) on cached backbone features of your data, then (backboneEpochs > 0) the backbone stage into <out>/backbone: CLIP ViTs on augmented images, packaged CNNs on their last backboneBlocks; validates mP@5 each epoch on held-out training classes when there are enough (else keeps the last epoch); `guie run` also evaluates and exports')
    .option('--config <file>', 'JSON config (keys below)')
    .option('--data <dir>', 'folder of class folders (<dir>/<class>/<image>) or of TFRecords (default: config paths.data; empty = the bundled sample)')
    .option('--split <kind>', 'held-out evaluation / validation split: classes | images | files (config "split")')
    .option('--skip-bad', 'leave out records that are malformed or whose image does not decode, each named, and go on (config "skipBad"; default: fail on the first)')
    .option('--vit-weights <file>', 'CLIP ViT backbones: safetensors file (default <paths.weights>/<backbone>.safetensors)')
    .option('--train-features <dir>', 'train on this feature cache instead of building one from the data')
    .option('--val-features <dir>', 'with --train-features: validation feature cache, or "none"')
    .option('--out <dir>', 'run directory: checkpoints/, metrics.jsonl, curves.html (+ the plotly.js it loads), run.json, train-whitening.json (default <paths.outputs>/train)')
    .option('--resume', 'continue from the newest checkpoint in --out (same data and settings only)')
    .option('--epochs <n>', 'config "epochs"')
    .option('--optimizer <name>', 'config "optimizer": adamw | sgd')
    .option('--schedule <name>', 'config "schedule": linear | cosine | multistep | constant')
    .option('--accum <n>', 'config "accumSteps"')
    .option('--clip <norm>', 'config "clipNorm" (0 = off)')
    .option('--checkpoint-every <steps>', 'config "checkpointEvery"')
    .option('--keep <n>', 'config "keepLast"')
    .option('--margin <kind>', 'config "margin": arcface | cosface')
    .option('--sub-centers <k>', 'config "subCenters"')
    .option('--smoothing <eps>', 'config "labelSmoothing"')
    .option('--progress <mode>', 'bar | lines | silent')
    .addHelpText('after', `\nConfig keys (a --config JSON file, or GUIE_<KEY> variables such as GUIE_BATCH_SIZE=8):\n${describeConfig()}`)
    .action(async (opts: TrainCommandOptions) => {
      try {
        const res = await trainCommand(opts);
        const best = res.best ? `best val mP@5 ${res.best.metric.toFixed(4)} (epoch ${res.best.epoch})` : 'no per-epoch validation (checkpoints/best is the last epoch)';
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
