/**
 * Config -> the head and the training loop's settings: the one place every entry point (`guie
 * train`, the main job, notebook 03) turns config keys into a HeadConfig and a TrainConfig.
 */
import { DEFAULT_CONFIG, type Config } from '../config';
import type { TrainConfig } from './train-config';
import type { HeadConfig } from './model';

/** The loop's settings for a head-only run; stages, layer decay and progress are the caller's to change. */
export function trainConfigFrom(config: Config): TrainConfig {
  return {
    seed: config.seed,
    stages: [{ name: 'head', epochs: config.epochs, train: '^head\\.' }],
    batchSize: config.batchSize,
    accumSteps: config.accumSteps,
    clipNorm: config.clipNorm,
    optimizer: { kind: config.optimizer },
    lr: config.lr,
    backboneLr: config.backboneLr,
    weightDecay: config.weightDecay,
    layerDecay: 1,
    numLayers: 0,
    schedule: { kind: config.schedule, warmupSteps: config.warmupSteps },
    checkpointEvery: config.checkpointEvery,
    keepLast: config.keepLast,
    ema: config.ema,
    anchor: config.anchor,
  };
}

/** Dropout -> Dense(embeddingDim) -> margin softmax over `numClasses`, on `inputDim`-d features. */
export function headConfigFrom(config: Config, inputDim: number, numClasses: number): HeadConfig {
  return {
    inputDim,
    embeddingDim: config.embeddingDim,
    numClasses,
    dropout: config.dropout,
    margin: config.margin,
    scale: config.arcScale,
    marginValue: config.arcMargin,
    subCenters: config.subCenters,
    labelSmoothing: config.labelSmoothing,
  };
}

/** The defaults' loop settings (tests and benches start from these). */
export const DEFAULT_TRAIN_CONFIG: Readonly<TrainConfig> = Object.freeze(trainConfigFrom(DEFAULT_CONFIG));

/** A batch no larger than the training set (a small folder of photos must still make full steps), and the note that says so. */
export function fitBatch(cfg: TrainConfig, trainRows: number): { cfg: TrainConfig; note: string | null } {
  const per = cfg.batchSize * cfg.accumSteps;
  if (trainRows >= per) return { cfg, note: null };
  const batchSize = Math.max(1, Math.floor(trainRows / cfg.accumSteps));
  return { cfg: { ...cfg, batchSize }, note: `batchSize ${cfg.batchSize} x accumSteps ${cfg.accumSteps} is more than the ${trainRows} training images: using batch ${batchSize}` };
}
