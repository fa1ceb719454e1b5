/**
 * The training loop: staged (head only, then backbone at a very low lr with the projection
 * frozen), gradient accumulation and clipping, a schedule per stage, validation mP@5 every epoch,
 * JSONL metrics, a progress bar, checkpoints every N steps and at each epoch end (keep last N +
 * best; lib/train/run-checkpoints.ts writes them and resumes from them), and a clear stop on a NaN/Inf loss.
 *
 * Reproducibility: epoch e visits the data in Rng.derive(seed, e)'s permutation; dropout draws
 * from one Rng whose state is checkpointed; weights and optimizer slots are saved as raw float32.
 * A resumed run therefore replays the uninterrupted one exactly.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { appendFileNamed } from '../util/atomic';
import { progress, type Progress } from '../util/progress';
import type { Checkpoint, CheckpointModel, TrainPosition } from './checkpoint';
import type { TrainModel } from './model';
import { clipByGlobalNorm, GradAccumulator, makeOptimizer, type NamedTensors, type Param, paramGroups } from './optim';
import { WeightEma } from './ema';
import { Rng } from '../util/random';
import { type Best, type EpochLoss, restoreOptimizer, RunCheckpoints, stageAnchors, type StageState, startRun } from './run-checkpoints';
import { makeSchedule } from './schedule';
import { EventWriter, writeProjector } from './tensorboard';
import { embedAll, leaveOneOutMP5, type ValidationResult } from './validate';
import { TrainingDivergedError, type Dataset, type EpochRecord, type StageConfig, type StepRecord, type TrainConfig, type TrainHooks, type TrainResult } from './train-config';

/** Micro-batches and optimizer steps per epoch, and the epochs this run trains. */
interface EpochPlan {
  microPerEpoch: number;
  stepsPerEpoch: number;
  totalEpochs: number;
}

interface StageRuntime extends StageState {
  cfg: StageConfig;
  firstEpoch: number;
  /** Global step at which the stage started (its schedule counts from here). */
  firstStep: number;
  trainable: Param[];
  trainVars: tf.Variable[];
  /** Parameter name by tfjs variable name (variableGrads keys its gradients by the latter). */
  nameOf: Map<string, string>;
  schedule: (step: number) => number;
  /** L2-SP reference weights w0 by parameter name; null when anchoring is off. */
  anchors: Map<string, tf.Tensor> | null;
}

/** What one call of the loop shares between its epochs and steps. */
interface Run {
  model: TrainModel;
  cfg: TrainConfig;
  data: { train: Dataset; val: Dataset | null };
  plan: EpochPlan;
  hooks: TrainHooks;
  log: (msg: string) => void;
  metricsFile: string;
  rng: Rng;
  ema: WeightEma | null;
  ckpts: RunCheckpoints;
  events: EventWriter;
  bar: Progress;
  pos: TrainPosition;
  best: Best;
}

export async function train(
  model: TrainModel,
  data: { train: Dataset; val: Dataset | null },
  cfg: TrainConfig,
  opts: { outDir: string; resume?: boolean; model?: CheckpointModel } & TrainHooks,
): Promise<TrainResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  fs.mkdirSync(opts.outDir, { recursive: true });
  const plan = epochPlan(data.train.size, cfg);
  const metricsFile = path.join(opts.outDir, 'metrics.jsonl');
  const start = startRun(model.params, { outDir: opts.outDir, metricsFile, resume: opts.resume ?? false, seed: cfg.seed, ema: Boolean(cfg.ema), totalEpochs: plan.totalEpochs }, log);
  const ema = cfg.ema ? new WeightEma(model.params, cfg.ema, start.from?.tensors) : null;
  const run: Run = {
    model, cfg, data, plan, hooks: opts, log, metricsFile, rng: start.rng, ema, pos: start.pos, best: start.best,
    ckpts: new RunCheckpoints({ outDir: opts.outDir, keepLast: cfg.keepLast, params: model.params, rng: start.rng, ema, model: opts.model, last: start.from?.dir ?? null }),
    // TensorBoard: the same numbers as metrics.jsonl, one events file per run of this loop (`tensorboard --logdir <outDir>`)
    events: new EventWriter(opts.outDir),
    bar: progress({ label: 'train', total: plan.totalEpochs * plan.stepsPerEpoch, mode: cfg.progressMode }),
  };
  run.bar.update(run.pos.step);
  const epochs: EpochRecord[] = [];
  let stage: StageRuntime | null = null;
  let lastVal: Float32Array | null = null;
  try {
    for (let epoch = start.pos.epoch; epoch < plan.totalEpochs; epoch++) {
      const index = stageOfEpoch(cfg.stages, epoch);
      if (stage?.index !== index) {
        closeStage(stage);
        // only the first stage entered can be the one the checkpoint was taken in
        stage = openStage(run, index, stage ? null : start.from);
      }
      const t0 = Date.now();
      const resumedEpoch = epoch === start.pos.epoch;
      const loss = await trainEpoch(run, stage, epoch, resumedEpoch ? start.pos.batchInEpoch : 0, (resumedEpoch ? start.epochLoss : null) ?? { sum: 0, n: 0 });
      const val = await validate(run);
      lastVal = val?.embeddings ?? lastVal;
      epochs.push(await endEpoch(run, stage, { epoch, loss, val: val?.result ?? null, t0 }));
    }
    if (lastVal && data.val) writeValidationProjector(opts.outDir, model, data.val, lastVal);
  } finally {
    run.bar.stop();
    closeStage(stage);
    ema?.dispose();
  }
  return { epochs, best: run.best, lastCheckpoint: run.ckpts.last, resumedFrom: start.from?.dir ?? null };
}

function epochPlan(rows: number, cfg: TrainConfig): EpochPlan {
  const microPerEpoch = Math.floor(rows / cfg.batchSize / cfg.accumSteps) * cfg.accumSteps;
  if (microPerEpoch === 0) throw new Error(`train: ${rows} training rows make no full step of batch ${cfg.batchSize} x accumulation ${cfg.accumSteps}`);
  return { microPerEpoch, stepsPerEpoch: microPerEpoch / cfg.accumSteps, totalEpochs: Math.min(cfg.stages.reduce((a, s) => a + s.epochs, 0), cfg.stopAfterEpochs ?? Infinity) };
}

function stageOfEpoch(stages: readonly StageConfig[], e: number): number {
  let acc = 0;
  for (const [i, s] of stages.entries()) if (e < (acc += s.epochs)) return i;
  return stages.length - 1;
}

/** A stage's trainable parameters, optimizer and schedule; its optimizer slots and L2-SP anchors come back from `from` when that was taken in this stage. */
function openStage(run: Run, index: number, from: Checkpoint | null): StageRuntime {
  const { cfg, model } = run;
  const stageCfg = cfg.stages[index];
  const firstEpoch = cfg.stages.slice(0, index).reduce((a, s) => a + s.epochs, 0);
  const re = new RegExp(stageCfg.train);
  const trainable = model.params.filter((p) => re.test(p.name));
  if (trainable.length === 0) throw new Error(`stage "${stageCfg.name}": pattern /${stageCfg.train}/ matches no parameter (have: ${model.params.map((p) => p.name).join(', ')})`);
  const groups = paramGroups(trainable, {
    lr: cfg.lr * (stageCfg.lrScale ?? 1),
    weightDecay: cfg.weightDecay,
    rules: [{ match: /^backbone\./, lrScale: cfg.backboneLr / cfg.lr }],
    layerwise: cfg.layerDecay !== 1 ? { numLayers: cfg.numLayers, decay: cfg.layerDecay, match: /^backbone\./ } : undefined,
  });
  const schedule = makeSchedule({ ...cfg.schedule, totalSteps: Math.max(1, stageCfg.epochs * run.plan.stepsPerEpoch) });
  const optimizer = makeOptimizer(groups, cfg.optimizer);
  restoreOptimizer(optimizer, index, from);
  const anchors = cfg.anchor ? stageAnchors(trainable, index, from) : null;
  run.log(`stage "${stageCfg.name}": ${trainable.length} trainable tensors, epochs ${firstEpoch + 1}-${firstEpoch + stageCfg.epochs}`);
  const trainVars = trainable.map((p) => p.variable);
  const nameOf = new Map(trainable.map((p) => [p.variable.name, p.name]));
  return { index, cfg: stageCfg, firstEpoch, firstStep: firstEpoch * run.plan.stepsPerEpoch, optimizer, trainable, trainVars, nameOf, schedule, anchors };
}

function closeStage(stage: StageRuntime | null): void {
  stage?.optimizer.dispose();
  if (stage?.anchors) tf.dispose([...stage.anchors.values()]);
}

/** Trains `epoch` from micro-batch `first` on (a resumed epoch starts mid-way, with its loss so far); returns the epoch's loss. */
async function trainEpoch(run: Run, st: StageRuntime, epoch: number, first: number, loss: EpochLoss): Promise<EpochLoss> {
  const { cfg, plan } = run;
  const perm = Rng.derive(cfg.seed, 1000 + epoch).permutation(run.data.train.size);
  const accum = new GradAccumulator();
  let tStep = Date.now();
  let { sum, n } = loss;
  for (let b = first; b < plan.microPerEpoch; b++) {
    const value = await microBatch(run, st, perm.subarray(b * cfg.batchSize, (b + 1) * cfg.batchSize), { epoch, batch: b }, accum);
    sum += value;
    n++;
    if (accum.count < cfg.accumSteps) continue;
    const { factor, norm } = optimizerStep(run, st, accum);
    run.pos = { step: run.pos.step + 1, epoch, batchInEpoch: b + 1 };
    tStep = logStep(run, st, { loss: value, factor, norm }, tStep);
    if (run.pos.step % cfg.checkpointEvery === 0 && run.pos.batchInEpoch < plan.microPerEpoch) run.ckpts.step(run.pos, st, run.best, { sum, n });
  }
  return { sum, n };
}

/** Forward and backward pass of one micro-batch (plus L2-SP's anchor/2 · ||w - w0||^2), its gradients added to `accum`; returns its loss. */
async function microBatch(run: Run, st: StageRuntime, idx: Int32Array, at: { epoch: number; batch: number }, accum: GradAccumulator): Promise<number> {
  const { model, cfg } = run;
  const x = await run.data.train.rows(idx, { epoch: at.epoch });
  const labels = tf.tensor1d(Int32Array.from(idx, (i) => run.data.train.labels[i]), 'int32');
  const anchors = st.anchors;
  const { value, grads } = tf.variableGrads(() => {
    const l = model.loss(x, labels, run.rng);
    if (!anchors) return l;
    const drift = tf.addN(st.trainable.map((p) => tf.sum(tf.square(tf.sub(p.variable, anchors.get(p.name)!)))));
    return tf.add(l, tf.mul(drift, cfg.anchor! / 2)) as tf.Scalar;
  }, st.trainVars);
  x.dispose();
  labels.dispose();
  const loss = value.dataSync()[0];
  value.dispose();
  const named: NamedTensors = new Map(Object.entries(grads).map(([k, g]) => [st.nameOf.get(k)!, g]));
  if (!Number.isFinite(loss)) {
    for (const g of named.values()) g.dispose();
    throw new TrainingDivergedError(
      `loss is ${loss} at epoch ${at.epoch + 1}, batch ${at.batch + 1} (after ${run.pos.step} optimizer steps); training stopped. ` +
        `Last good checkpoint: ${run.ckpts.last ?? '(none written yet)'}. Lower the learning rate, enable --clip, or check the data.`,
    );
  }
  accum.add(named);
  for (const g of named.values()) g.dispose();
  return loss;
}

/** One optimizer update from the accumulated gradients (clipped when clipNorm > 0); the weight averages follow. */
function optimizerStep(run: Run, st: StageRuntime, accum: GradAccumulator): { factor: number; norm: number } {
  const avg = accum.take();
  const { grads: clipped, norm } = run.cfg.clipNorm > 0 ? clipByGlobalNorm(avg, run.cfg.clipNorm) : { grads: avg, norm: NaN };
  const factor = st.schedule(run.pos.step - st.firstStep);
  st.optimizer.step(clipped, factor);
  run.ema?.update(st.trainable, run.pos.step);
  for (const g of new Set([...avg.values(), ...clipped.values()])) g.dispose();
  return { factor, norm };
}

/** The step's record to metrics.jsonl, TensorBoard, the hook and the bar; returns its time (the next step's throughput counts from it). */
function logStep(run: Run, st: StageRuntime, s: { loss: number; factor: number; norm: number }, tStep: number): number {
  const now = Date.now();
  const rec: StepRecord = {
    type: 'step',
    step: run.pos.step,
    epoch: run.pos.epoch + 1,
    stage: st.cfg.name,
    loss: s.loss,
    lr: Math.max(...st.optimizer.groups.map((g) => g.lr)) * s.factor, // the head's lr (backbone groups are lower)
    gradNorm: s.norm,
    imagesPerSec: (run.cfg.batchSize * run.cfg.accumSteps * 1000) / Math.max(1, now - tStep),
    rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
    time: now,
  };
  appendFileNamed(run.metricsFile, JSON.stringify(rec) + '\n');
  run.events.scalars(rec.step, { 'train/loss': rec.loss, 'train/lr': rec.lr, 'train/images_per_sec': rec.imagesPerSec }, now / 1000);
  run.hooks.onStep?.(rec);
  run.bar.update(rec.step, { loss: rec.loss.toFixed(4), lr: rec.lr.toExponential(2), 'img/s': rec.imagesPerSec.toFixed(rec.imagesPerSec < 10 ? 1 : 0), mem: `${(rec.rssMB / 1024).toFixed(2)}G` });
  return now;
}

/** Validation mP@5 of the averaged weights when there are any, and the embeddings it scored; null without a validation set. */
async function validate(run: Run): Promise<{ result: ValidationResult; embeddings: Float32Array } | null> {
  const { model, ema } = run;
  const valSet = run.data.val;
  if (!valSet) return null;
  const embed = () => embedAll(model, valSet.size, (s, e) => valSet.rows(Int32Array.from({ length: e - s }, (_, i) => s + i)), valSet.evalBatch);
  const embeddings = await (ema ? ema.swapped(model.params, embed) : embed());
  return { result: await leaveOneOutMP5(embeddings, model.config.embeddingDim, valSet.labels, valSet.sources), embeddings };
}

/** Epoch end: the record logged, then the best copy, then the step checkpoint (a kill in between replays this epoch from the previous checkpoint). */
async function endEpoch(run: Run, st: StageRuntime, e: { epoch: number; loss: EpochLoss; val: ValidationResult | null; t0: number }): Promise<EpochRecord> {
  const { loss, val } = e;
  const epoch = e.epoch + 1;
  run.pos = { step: run.pos.step, epoch, batchInEpoch: 0 };
  const improved = val !== null && (run.best === null || val.mP5 > run.best.metric);
  if (improved) run.best = { metric: val.mP5, epoch, step: run.pos.step };
  const rec: EpochRecord = {
    type: 'epoch',
    step: run.pos.step,
    epoch,
    stage: st.cfg.name,
    trainLoss: loss.n > 0 ? loss.sum / loss.n : NaN,
    valMP5: val?.mP5 ?? null,
    valBySource: val?.bySource ?? {},
    seconds: (Date.now() - e.t0) / 1000,
    time: Date.now(),
  };
  appendFileNamed(run.metricsFile, JSON.stringify(rec) + '\n');
  run.events.scalars(rec.step, { 'epoch/train_loss': rec.trainLoss, ...(val ? { 'val/mP@5': val.mP5 } : {}), ...Object.fromEntries(Object.entries(rec.valBySource).map(([d, v]) => [`val/mP@5/${d}`, v])) }, rec.time / 1000);
  if (improved || !run.data.val) await run.ckpts.best(run.pos, st, run.best); // without validation, "best" is the newest epoch
  run.ckpts.step(run.pos, st, run.best);
  run.hooks.onEpoch?.(rec);
  run.log(`epoch ${rec.epoch}/${run.plan.totalEpochs} [${rec.stage}] loss ${rec.trainLoss.toFixed(4)}${val ? ` val mP@5 ${val.mP5.toFixed(4)}` : ''} (${rec.seconds.toFixed(1)}s)`);
  return rec;
}

/** The projector's view of the last validation embeddings, by class and domain. */
function writeValidationProjector(outDir: string, model: TrainModel, valSet: Dataset, embeddings: Float32Array): void {
  const names = valSet.sources?.names;
  const domain = Array.from({ length: valSet.size }, (_, i) => (names && valSet.sources ? names[valSet.sources.ids[i]] : ''));
  writeProjector(outDir, 'validation', embeddings, model.config.embeddingDim, { label: Array.from(valSet.labels, String), domain });
}
