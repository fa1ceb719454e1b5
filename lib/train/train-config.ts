/**
 * What the training loop (lib/train/loop.ts) takes and gives back: its datasets, stages and settings, the
 * records it writes per step and per epoch, and how it reports a run. Types only (and the staged-recipe
 * helper), so the stages that configure or read a run need not load the loop.
 */
import type * as tf from '@tensorflow/tfjs';
import type { CheckpointState } from './checkpoint';
import type { OptimizerConfig } from './optim';
import type { ScheduleConfig } from './schedule';

/** Rows the loop can batch: cached features (or images, with a backbone in the model). */
export interface Dataset {
  size: number;
  labels: Int32Array;
  sources?: { ids: Int32Array; names: readonly string[] };
  /** Input tensor of the given rows (the caller disposes it): cached features at once, images decoded (and augmented for `epoch`) on demand. */
  rows(indices: Int32Array, at?: { epoch: number }): tf.Tensor | Promise<tf.Tensor>;
  /** Images per validation batch (default 256 feature rows). */
  evalBatch?: number;
}

export interface StageConfig {
  name: string;
  epochs: number;
  /** Parameters trained in this stage (regex source over parameter names); the rest stay frozen. */
  train: string;
  /** Multiplies every group's lr in this stage. */
  lrScale?: number;
}

export interface TrainConfig {
  seed: number;
  stages: StageConfig[];
  batchSize: number;
  /** Micro-batches per optimizer step. */
  accumSteps: number;
  /** Global gradient-norm clip; 0 = off. */
  clipNorm: number;
  optimizer: OptimizerConfig;
  /** Head lr. */
  lr: number;
  /** Backbone lr before layer-wise decay (the 2nd place used head lr x 1e-3). */
  backboneLr: number;
  weightDecay: number;
  /** ViT layer-wise lr decay for "backbone.blocks.N." parameters; 1 = off. */
  layerDecay: number;
  numLayers: number;
  schedule: Omit<ScheduleConfig, 'totalSteps'>;
  /** Checkpoint every this many optimizer steps (plus every epoch end). */
  checkpointEvery: number;
  keepLast: number;
  /** Weight EMA decay per optimizer step; 0 or absent = off. */
  ema?: number;
  /** L2-SP: adds anchor/2 · ||w - w0||^2 over the stage's trained weights, w0 = their values when the stage began; 0 or absent = off. */
  anchor?: number;
  progressMode?: 'bar' | 'lines' | 'silent';
  /** Stop after this many epochs of the schedule, which still spans every stage's epochs (early stopping chose them elsewhere); absent = all. */
  stopAfterEpochs?: number;
}

/** The winners' two stages: head only, then backbone (+ margin) at the backbone lr with the projection frozen. */
export function stagedRecipe(headEpochs: number, backboneEpochs: number): StageConfig[] {
  return [
    { name: 'head', epochs: headEpochs, train: '^head\\.' },
    { name: 'backbone', epochs: backboneEpochs, train: '^(backbone\\.|head\\.margin\\.)' },
  ];
}

export interface StepRecord {
  type: 'step';
  step: number;
  epoch: number;
  stage: string;
  loss: number;
  lr: number;
  gradNorm: number;
  imagesPerSec: number;
  /** Resident memory of the process (MiB): host-side tensors and the native backend's included. */
  rssMB: number;
  time: number;
}

export interface EpochRecord {
  type: 'epoch';
  step: number;
  epoch: number;
  stage: string;
  trainLoss: number;
  valMP5: number | null;
  valBySource: Record<string, number>;
  seconds: number;
  time: number;
}

export interface TrainHooks {
  onStep?: (r: StepRecord) => void;
  onEpoch?: (r: EpochRecord) => void;
  log?: (msg: string) => void;
}

export interface TrainResult {
  epochs: EpochRecord[];
  best: CheckpointState['best'];
  lastCheckpoint: string | null;
  resumedFrom: string | null;
}

export class TrainingDivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingDivergedError';
  }
}
