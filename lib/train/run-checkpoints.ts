/**
 * A training run's checkpoints (lib/train/checkpoint.ts is their file format): what the loop writes so
 * that a killed run resumes exactly, and how it resumes. Every checkpoint holds the weights, the stage's
 * optimizer slots, the weight averages, the L2-SP anchors ("param/<name>", "<slot>/<name>", "ema/<name>",
 * "anchor/<name>"), the data position, the dropout RNG state and the best metric so far.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../util/atomic';
import { type Checkpoint, checkpointName, type CheckpointModel, type CheckpointState, latestCheckpoint, loadCheckpoint, type NamedArray, pruneCheckpoints, saveCheckpoint, type TrainPosition } from './checkpoint';
import { EMA_PREFIX, type WeightEma } from './ema';
import type { TrainModel } from './model';
import type { Optimizer, OptimizerConfig, Param } from './optim';
import { Rng } from '../util/random';

const ANCHOR_PREFIX = 'anchor/';

export type Best = CheckpointState['best'];

/** A stage's part of a checkpoint: its index, optimizer and L2-SP reference weights (null when anchoring is off). */
export interface StageState {
  index: number;
  optimizer: Optimizer;
  anchors: ReadonlyMap<string, tf.Tensor> | null;
}

/** The running sum of an epoch's batch losses (a mid-epoch checkpoint carries it). */
export interface EpochLoss {
  sum: number;
  n: number;
}

export function checkpointsDir(outDir: string): string {
  return path.join(outDir, 'checkpoints');
}

/** Where a run begins: from its newest checkpoint (resume), or from scratch. */
export interface RunStart {
  /** The checkpoint resumed from; null for a fresh run. */
  from: Checkpoint | null;
  pos: TrainPosition;
  rng: Rng;
  best: Best;
  /** The resumed epoch's loss so far, so its trainLoss is the uninterrupted run's; null at an epoch boundary. */
  epochLoss: EpochLoss | null;
}

/**
 * Finds the checkpoint to resume (a fresh run refuses a folder that holds checkpoints), puts its weights
 * into `params` and cuts `metricsFile` back to its step; a fresh run starts an empty `metricsFile`.
 */
export function startRun(params: readonly Param[], a: { outDir: string; metricsFile: string; resume: boolean; seed: number; ema: boolean; totalEpochs: number }, log: (msg: string) => void): RunStart {
  const ckptDir = checkpointsDir(a.outDir);
  const from = a.resume ? latestCheckpoint(ckptDir, log) : null;
  if (!a.resume && fs.existsSync(ckptDir) && fs.readdirSync(ckptDir).some((n) => n.startsWith('ckpt-'))) {
    throw new Error(`${ckptDir} already holds checkpoints: pass --resume to continue that run, or choose another output directory`);
  }
  if (a.resume && !from) log(`resume: no checkpoint in ${ckptDir}, starting from scratch`);
  if (!from) {
    fs.writeFileSync(a.metricsFile, '');
    return { from: null, pos: { step: 0, epoch: 0, batchInEpoch: 0 }, rng: new Rng(Rng.derive(a.seed, 7).state()), best: null, epochLoss: null };
  }
  const s = from.state;
  const epochLoss = s.batchInEpoch > 0 ? carriedEpochLoss(from) : null;
  restoreWeights(params, from.tensors, from.dir);
  trimLog(a.metricsFile, s.step);
  log(`resumed from ${from.dir}: step ${s.step}, epoch ${s.epoch}, batch ${s.batchInEpoch}`);
  if (s.epoch >= a.totalEpochs) log(`${a.outDir}: already finished all ${a.totalEpochs} epochs: nothing to train`);
  if (a.ema && ![...from.tensors.keys()].some((k) => k.startsWith(EMA_PREFIX))) log(`resume: ${from.dir} holds no weight averages (trained without ema): averaging starts from its weights`);
  return { from, pos: { step: s.step, epoch: s.epoch, batchInEpoch: s.batchInEpoch }, rng: new Rng(s.rng), best: s.best, epochLoss };
}

/** A mid-epoch checkpoint's extra.epochLoss, checked (checkpoints written before it existed carry none: the epoch's loss restarts). */
function carriedEpochLoss(from: Checkpoint): EpochLoss | null {
  const saved = from.state.extra.epochLoss as { sum?: unknown; n?: unknown } | undefined;
  if (saved === undefined) return null;
  if (!(typeof saved.sum === 'number' && Number.isFinite(saved.sum) && Number.isInteger(saved.n))) throw new Error(`${from.dir}: state.json's extra.epochLoss is ${JSON.stringify(saved)}, not {sum, n}: the checkpoint is damaged (delete it to resume from the one before)`);
  return saved as EpochLoss;
}

/** Metrics log lines up to `step` (a resumed run rewrites what the killed one logged after its checkpoint). */
function trimLog(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const keep = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => {
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false; // a line half-written when the process was killed
      }
    });
  writeFileAtomic(file, keep.map((l) => l + '\n').join(''));
}

/** Copies checkpointed weights into the model's variables (names and shapes must match). */
function restoreWeights(params: readonly Param[], tensors: ReadonlyMap<string, NamedArray>, source: string): void {
  for (const p of params) {
    const t = tensors.get(`param/${p.name}`);
    if (!t) throw new Error(`${source}: no weights for parameter "${p.name}"`);
    if (t.values.length !== p.variable.size) throw new Error(`${source}: "${p.name}" has ${t.values.length} values, the model expects ${p.variable.size} (${p.variable.shape})`);
    p.variable.assign(tf.tensor(t.values, p.variable.shape, 'float32'));
  }
}

/** Loads the model weights of a checkpoint directory (e.g. outDir/checkpoints/best) into `model`. */
export function loadWeightsInto(model: TrainModel, checkpointDir: string): void {
  restoreWeights(model.params, loadCheckpoint(checkpointDir).tensors, checkpointDir);
}

/** Gives a stage's optimizer its slots back when `from` was taken in that same stage (another stage's slots do not apply). */
export function restoreOptimizer(optimizer: Optimizer, stageIndex: number, from: Checkpoint | null): void {
  if (!from || from.state.extra.stage !== stageIndex) return;
  const slots: Record<string, Record<string, Float32Array>> = {};
  for (const [key, t] of from.tensors) {
    const [slot, ...rest] = key.split('/');
    if (slot === 'param' || key.startsWith(EMA_PREFIX) || key.startsWith(ANCHOR_PREFIX)) continue;
    (slots[slot] ??= {})[rest.join('/')] = t.values;
  }
  optimizer.setState({ kind: from.state.optimizer.kind as OptimizerConfig['kind'], step: from.state.optimizer.step, slots });
}

/** L2-SP's w0 for a stage: the weights it began from, back from `from` when resuming inside it. */
export function stageAnchors(trainable: readonly Param[], stageIndex: number, from: Checkpoint | null): Map<string, tf.Tensor> {
  const saved = from && from.state.extra.stage === stageIndex ? from.tensors : null;
  return new Map(
    trainable.map((p) => {
      const w0 = saved?.get(ANCHOR_PREFIX + p.name);
      return [p.name, w0 ? tf.tensor(w0.values, p.variable.shape, 'float32') : p.variable.clone()];
    }),
  );
}

/** Writes a run's checkpoints into <outDir>/checkpoints: step checkpoints (the newest keepLast kept) and the best copy. */
export class RunCheckpoints {
  readonly dir: string;
  /** The newest step checkpoint (the one resumed from until this run writes one). */
  last: string | null;

  constructor(private readonly run: { outDir: string; keepLast: number; params: readonly Param[]; rng: Rng; ema: WeightEma | null; model?: CheckpointModel; last: string | null }) {
    this.dir = checkpointsDir(run.outDir);
    this.last = run.last;
  }

  /** A step checkpoint; one taken mid-epoch carries the epoch's loss so far. */
  step(pos: TrainPosition, stage: StageState, best: Best, epochLoss?: EpochLoss): void {
    this.last = this.write(checkpointName(pos.step), pos, stage, best, epochLoss ? { epochLoss } : {});
    pruneCheckpoints(this.dir, this.run.keepLast);
  }

  /** The "best" copy, replacing the previous one; it holds the averaged weights when there are any. */
  async best(pos: TrainPosition, stage: StageState, best: Best): Promise<void> {
    const write = () => this.write('best', pos, stage, best, {});
    if (this.run.ema) await this.run.ema.swapped(this.run.params, write);
    else write();
  }

  private write(name: string, pos: TrainPosition, stage: StageState, best: Best, extra: Record<string, unknown>): string {
    const state: CheckpointState = {
      ...pos,
      rng: this.run.rng.state(),
      optimizer: { kind: stage.optimizer.kind, step: stage.optimizer.stepCount },
      best,
      extra: { stage: stage.index, ...(this.run.model ? { model: this.run.model } : {}), ...extra },
    };
    return saveCheckpoint(this.dir, name, state, this.snapshot(stage));
  }

  /** Weights, optimizer slots, weight averages and anchors as named float32 arrays. */
  private snapshot(stage: StageState): Map<string, NamedArray> {
    const out = new Map<string, NamedArray>(this.run.ema?.entries() ?? []);
    for (const [name, t] of stage.anchors ?? []) out.set(ANCHOR_PREFIX + name, { shape: t.shape, values: t.dataSync() as Float32Array });
    for (const p of this.run.params) out.set(`param/${p.name}`, { shape: p.variable.shape, values: p.variable.dataSync() as Float32Array });
    const st = stage.optimizer.getState();
    for (const [slot, byParam] of Object.entries(st.slots)) {
      for (const [name, values] of Object.entries(byParam)) out.set(`${slot}/${name}`, { shape: stage.optimizer.slot(slot, name).shape, values });
    }
    return out;
  }
}
