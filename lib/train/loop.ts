/**
 * The training loop: staged (head only, then backbone at a very low lr with the projection
 * frozen), gradient accumulation and clipping, a schedule per stage, validation mP@5 every epoch,
 * JSONL metrics, a progress bar, checkpoints every N steps and at each epoch end (keep last N +
 * best), exact resume, and a clear stop on a NaN/Inf loss.
 *
 * Reproducibility: epoch e visits the data in Rng.derive(seed, e)'s permutation; dropout draws
 * from one Rng whose state is checkpointed; weights and optimizer slots are saved as raw float32.
 * A resumed run therefore replays the uninterrupted one exactly.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { appendFileNamed, writeFileAtomic } from '../util/atomic';
import { progress } from '../util/progress';
import { checkpointName, type CheckpointModel, CheckpointState, latestCheckpoint, loadCheckpoint, NamedArray, pruneCheckpoints, saveCheckpoint } from './checkpoint';
import type { TrainModel } from './model';
import { clipByGlobalNorm, GradAccumulator, makeOptimizer, NamedTensors, Optimizer, OptimizerConfig, Param, paramGroups } from './optim';
import { EMA_PREFIX, WeightEma } from './ema';
import { Rng } from '../util/random';
import { makeSchedule, ScheduleConfig } from './schedule';
import { EventWriter, writeProjector } from './tensorboard';
import { embedAll, leaveOneOutMP5, ValidationResult } from './validate';

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

export function checkpointsDir(outDir: string): string {
  return path.join(outDir, 'checkpoints');
}

interface StageRuntime {
  index: number;
  cfg: StageConfig;
  firstEpoch: number;
  /** Global step at which the stage started (its schedule counts from here). */
  firstStep: number;
  stepsPerEpoch: number;
  optimizer: Optimizer;
  trainable: Param[];
  schedule: (step: number) => number;
  /** L2-SP reference weights w0 by parameter name (checkpointed as "anchor/<name>"); null when anchoring is off. */
  anchors: Map<string, tf.Tensor> | null;
}

const ANCHOR_PREFIX = 'anchor/';

/** Weights, optimizer slots and weight averages as named float32 arrays ("param/<name>", "<slot>/<name>", "ema/<name>"). */
function snapshot(params: readonly Param[], opt: Optimizer | null, ema: WeightEma | null, anchors: ReadonlyMap<string, tf.Tensor> | null): Map<string, NamedArray> {
  const out = new Map<string, NamedArray>(ema?.entries() ?? []);
  for (const [name, t] of anchors ?? []) out.set(ANCHOR_PREFIX + name, { shape: t.shape, values: t.dataSync() as Float32Array });
  for (const p of params) out.set(`param/${p.name}`, { shape: p.variable.shape, values: p.variable.dataSync() as Float32Array });
  if (opt) {
    const st = opt.getState();
    for (const [slot, byParam] of Object.entries(st.slots)) {
      for (const [name, values] of Object.entries(byParam)) out.set(`${slot}/${name}`, { shape: opt.slot(slot, name).shape, values });
    }
  }
  return out;
}

/** Copies checkpointed weights into the model's variables (names and shapes must match). */
export function restoreWeights(params: readonly Param[], tensors: ReadonlyMap<string, NamedArray>, source: string): void {
  for (const p of params) {
    const t = tensors.get(`param/${p.name}`);
    if (!t) throw new Error(`${source}: no weights for parameter "${p.name}"`);
    if (t.values.length !== p.variable.size) throw new Error(`${source}: "${p.name}" has ${t.values.length} values, the model expects ${p.variable.size} (${p.variable.shape})`);
    p.variable.assign(tf.tensor(t.values, p.variable.shape, 'float32'));
  }
}

function optimizerStateFrom(tensors: ReadonlyMap<string, NamedArray>, kind: string, step: number): Parameters<Optimizer['setState']>[0] {
  const slots: Record<string, Record<string, Float32Array>> = {};
  for (const [key, t] of tensors) {
    const [slot, ...rest] = key.split('/');
    if (slot === 'param' || key.startsWith(EMA_PREFIX) || key.startsWith(ANCHOR_PREFIX)) continue;
    (slots[slot] ??= {})[rest.join('/')] = t.values;
  }
  return { kind: kind as OptimizerConfig['kind'], step, slots };
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

export async function train(
  model: TrainModel,
  data: { train: Dataset; val: Dataset | null },
  cfg: TrainConfig,
  opts: { outDir: string; resume?: boolean; model?: CheckpointModel } & TrainHooks,
): Promise<TrainResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const ckptDir = checkpointsDir(opts.outDir);
  const metricsFile = path.join(opts.outDir, 'metrics.jsonl');
  fs.mkdirSync(opts.outDir, { recursive: true });
  const { train: trainSet, val: valSet } = data;
  const microPerEpoch = Math.floor(trainSet.size / cfg.batchSize / cfg.accumSteps) * cfg.accumSteps;
  if (microPerEpoch === 0) throw new Error(`train: ${trainSet.size} training rows make no full step of batch ${cfg.batchSize} x accumulation ${cfg.accumSteps}`);
  const stepsPerEpoch = microPerEpoch / cfg.accumSteps;
  const totalEpochs = Math.min(cfg.stages.reduce((a, s) => a + s.epochs, 0), cfg.stopAfterEpochs ?? Infinity);

  // where to start
  let resumed = opts.resume ? latestCheckpoint(ckptDir, log) : null;
  const resumedFrom = resumed?.dir ?? null;
  if (!opts.resume && fs.existsSync(ckptDir) && fs.readdirSync(ckptDir).some((n) => n.startsWith('ckpt-'))) {
    throw new Error(`${ckptDir} already holds checkpoints: pass --resume to continue that run, or choose another output directory`);
  }
  if (opts.resume && !resumed) log(`resume: no checkpoint in ${ckptDir}, starting from scratch`);
  let pos = resumed ? { step: resumed.state.step, epoch: resumed.state.epoch, batchInEpoch: resumed.state.batchInEpoch } : { step: 0, epoch: 0, batchInEpoch: 0 };
  const rng = new Rng(resumed ? resumed.state.rng : Rng.derive(cfg.seed, 7).state());
  let best = resumed?.state.best ?? null;
  if (resumed) {
    restoreWeights(model.params, resumed.tensors, resumed.dir);
    trimLog(metricsFile, pos.step);
    log(`resumed from ${resumed.dir}: step ${pos.step}, epoch ${pos.epoch}, batch ${pos.batchInEpoch}`);
    if (pos.epoch >= totalEpochs) log(`${opts.outDir}: already finished all ${totalEpochs} epochs: nothing to train`);
  } else {
    fs.writeFileSync(metricsFile, '');
  }
  if (cfg.ema && resumed && ![...resumed.tensors.keys()].some((k) => k.startsWith(EMA_PREFIX))) log(`resume: ${resumed.dir} holds no weight averages (trained without ema): averaging starts from its weights`);
  const ema = cfg.ema ? new WeightEma(model.params, cfg.ema, resumed?.tensors) : null;
  // validation and `best` see the averaged weights when there are any
  const averaged = <T>(fn: () => Promise<T> | T): Promise<T> => (ema ? ema.swapped(model.params, fn) : Promise.resolve(fn()));
  // TensorBoard: the same numbers as metrics.jsonl, one events file per run of this loop (`tensorboard --logdir <outDir>`)
  const events = new EventWriter(opts.outDir);
  let lastVal: Float32Array | null = null;
  const appendLog = (r: StepRecord | EpochRecord) => appendFileNamed(metricsFile, JSON.stringify(r) + '\n');

  const makeStage = (index: number): StageRuntime => {
    const stageCfg = cfg.stages[index];
    const firstEpoch = cfg.stages.slice(0, index).reduce((a, s) => a + s.epochs, 0);
    const re = new RegExp(stageCfg.train);
    const trainable = model.params.filter((p) => re.test(p.name));
    if (trainable.length === 0) throw new Error(`stage "${stageCfg.name}": pattern /${stageCfg.train}/ matches no parameter (have: ${model.params.map((p) => p.name).join(', ')})`);
    const scale = stageCfg.lrScale ?? 1;
    const groups = paramGroups(trainable, {
      lr: cfg.lr * scale,
      weightDecay: cfg.weightDecay,
      rules: [{ match: /^backbone\./, lrScale: cfg.backboneLr / cfg.lr }],
      layerwise: cfg.layerDecay !== 1 ? { numLayers: cfg.numLayers, decay: cfg.layerDecay, match: /^backbone\./ } : undefined,
    });
    const schedule = makeSchedule({ ...cfg.schedule, totalSteps: Math.max(1, stageCfg.epochs * stepsPerEpoch) });
    return { index, cfg: stageCfg, firstEpoch, firstStep: firstEpoch * stepsPerEpoch, stepsPerEpoch, optimizer: makeOptimizer(groups, cfg.optimizer), trainable, schedule, anchors: null };
  };
  const stageOfEpoch = (e: number) => {
    let acc = 0;
    for (const [i, s] of cfg.stages.entries()) if (e < (acc += s.epochs)) return i;
    return cfg.stages.length - 1;
  };

  let stage: StageRuntime | null = null;
  let lastCheckpoint: string | null = resumed?.dir ?? null;
  const epochs: EpochRecord[] = [];
  const bar = progress({ label: 'train', total: totalEpochs * stepsPerEpoch, mode: cfg.progressMode });
  bar.update(pos.step);

  const save = (name: string, p: typeof pos, extra: Record<string, unknown> = {}): string => {
    const state: CheckpointState = {
      ...p,
      rng: rng.state(),
      optimizer: { kind: stage!.optimizer.kind, step: stage!.optimizer.stepCount },
      best,
      extra: { stage: stage!.index, ...(opts.model ? { model: opts.model } : {}), ...extra },
    };
    return saveCheckpoint(ckptDir, name, state, snapshot(model.params, stage!.optimizer, ema, stage!.anchors));
  };

  // a mid-epoch checkpoint carries its epoch's loss so far: the resumed epoch's trainLoss is the uninterrupted run's
  const saved = resumed && pos.batchInEpoch > 0 ? (resumed.state.extra.epochLoss as { sum?: unknown; n?: unknown } | undefined) : undefined;
  if (saved && !(typeof saved.sum === 'number' && Number.isFinite(saved.sum) && Number.isInteger(saved.n))) throw new Error(`${resumed!.dir}: state.json's extra.epochLoss is ${JSON.stringify(saved)}, not {sum, n}: the checkpoint is damaged (delete it to resume from the one before)`);
  const carried = saved as { sum: number; n: number } | undefined;
  const resumedEpoch = pos.epoch;
  try {
    for (let epoch = pos.epoch; epoch < totalEpochs; epoch++) {
      const si = stageOfEpoch(epoch);
      if (!stage || stage.index !== si) {
        stage?.optimizer.dispose();
        if (stage?.anchors) tf.dispose([...stage.anchors.values()]);
        stage = makeStage(si);
        // optimizer slots come back only when the checkpoint was taken in this same stage
        if (resumed && resumed.state.extra.stage === si) stage.optimizer.setState(optimizerStateFrom(resumed.tensors, resumed.state.optimizer.kind, resumed.state.optimizer.step));
        // L2-SP's w0: the weights this stage began from (back from the checkpoint when resuming inside it)
        if (cfg.anchor) {
          const from = resumed && resumed.state.extra.stage === si ? resumed.tensors : null;
          stage.anchors = new Map(stage.trainable.map((p) => {
            const saved = from?.get(ANCHOR_PREFIX + p.name);
            return [p.name, saved ? tf.tensor(saved.values, p.variable.shape, 'float32') : p.variable.clone()];
          }));
        }
        resumed = null;
        log(`stage "${stage.cfg.name}": ${stage.trainable.length} trainable tensors, epochs ${stage.firstEpoch + 1}-${stage.firstEpoch + stage.cfg.epochs}`);
      }
      const st: StageRuntime = stage;
      const trainVars = st.trainable.map((p) => p.variable);
      const nameOf = new Map(st.trainable.map((p) => [p.variable.name, p.name]));
      const perm = Rng.derive(cfg.seed, 1000 + epoch).permutation(trainSet.size);
      const accum = new GradAccumulator();
      const t0 = Date.now();
      let tStep = Date.now();
      let lossSum = epoch === resumedEpoch && carried ? carried.sum : 0;
      let lossN = epoch === resumedEpoch && carried ? carried.n : 0;
      for (let b = epoch === pos.epoch ? pos.batchInEpoch : 0; b < microPerEpoch; b++) {
        const idx = perm.subarray(b * cfg.batchSize, (b + 1) * cfg.batchSize);
        const x = await trainSet.rows(idx, { epoch });
        const labels = tf.tensor1d(Int32Array.from(idx, (i) => trainSet.labels[i]), 'int32');
        const anchors = st.anchors;
        const { value, grads } = tf.variableGrads(() => {
          const l = model.loss(x, labels, rng);
          if (!anchors) return l;
          const drift = tf.addN(st.trainable.map((p) => tf.sum(tf.square(tf.sub(p.variable, anchors.get(p.name)!)))));
          return tf.add(l, tf.mul(drift, cfg.anchor! / 2)) as tf.Scalar;
        }, trainVars);
        x.dispose();
        labels.dispose();
        const loss = value.dataSync()[0];
        value.dispose();
        const named: NamedTensors = new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g]));
        if (!Number.isFinite(loss)) {
          for (const g of named.values()) g.dispose();
          throw new TrainingDivergedError(
            `loss is ${loss} at epoch ${epoch + 1}, batch ${b + 1} (after ${pos.step} optimizer steps); training stopped. ` +
              `Last good checkpoint: ${lastCheckpoint ?? '(none written yet)'}. Lower the learning rate, enable --clip, or check the data.`,
          );
        }
        accum.add(named);
        for (const g of named.values()) g.dispose();
        lossSum += loss;
        lossN++;
        if (accum.count < cfg.accumSteps) continue;

        const avg = accum.take();
        const { grads: clipped, norm } = cfg.clipNorm > 0 ? clipByGlobalNorm(avg, cfg.clipNorm) : { grads: avg, norm: NaN };
        const factor = st.schedule(pos.step - st.firstStep);
        st.optimizer.step(clipped, factor);
        ema?.update(st.trainable, pos.step);
        for (const g of new Set([...avg.values(), ...clipped.values()])) g.dispose();
        pos = { step: pos.step + 1, epoch, batchInEpoch: b + 1 };

        const now = Date.now();
        const rec: StepRecord = {
          type: 'step',
          step: pos.step,
          epoch: epoch + 1,
          stage: st.cfg.name,
          loss,
          lr: Math.max(...st.optimizer.groups.map((g) => g.lr)) * factor, // the head's lr (backbone groups are lower)
          gradNorm: norm,
          imagesPerSec: (cfg.batchSize * cfg.accumSteps * 1000) / Math.max(1, now - tStep),
          rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
          time: now,
        };
        tStep = now;
        appendLog(rec);
        events.scalars(rec.step, { 'train/loss': loss, 'train/lr': rec.lr, 'train/images_per_sec': rec.imagesPerSec }, now / 1000);
        opts.onStep?.(rec);
        bar.update(pos.step, { loss: loss.toFixed(4), lr: rec.lr.toExponential(2), 'img/s': rec.imagesPerSec.toFixed(rec.imagesPerSec < 10 ? 1 : 0), mem: `${(rec.rssMB / 1024).toFixed(2)}G` });
        if (pos.step % cfg.checkpointEvery === 0 && pos.batchInEpoch < microPerEpoch) {
          lastCheckpoint = save(checkpointName(pos.step), pos, { epochLoss: { sum: lossSum, n: lossN } });
          pruneCheckpoints(ckptDir, cfg.keepLast);
        }
      }

      // epoch end: validate, checkpoint (and the best copy)
      let val: ValidationResult | null = null;
      if (valSet) {
        const emb = await averaged(() => embedAll(model, valSet.size, (s, e) => valSet.rows(Int32Array.from({ length: e - s }, (_, i) => s + i)), valSet.evalBatch));
        val = await leaveOneOutMP5(emb, model.config.embeddingDim, valSet.labels, valSet.sources);
        lastVal = emb;
      }
      pos = { step: pos.step, epoch: epoch + 1, batchInEpoch: 0 };
      const improved = val !== null && (best === null || val.mP5 > best.metric);
      if (improved) best = { metric: val!.mP5, epoch: epoch + 1, step: pos.step };
      const rec: EpochRecord = {
        type: 'epoch',
        step: pos.step,
        epoch: epoch + 1,
        stage: st.cfg.name,
        trainLoss: lossN > 0 ? lossSum / lossN : NaN,
        valMP5: val?.mP5 ?? null,
        valBySource: val?.bySource ?? {},
        seconds: (Date.now() - t0) / 1000,
        time: Date.now(),
      };
      // log, then best, then the step checkpoint: a kill in between replays this epoch from the previous checkpoint
      appendLog(rec);
      events.scalars(rec.step, { 'epoch/train_loss': rec.trainLoss, ...(val ? { 'val/mP@5': val.mP5 } : {}), ...Object.fromEntries(Object.entries(rec.valBySource).map(([d, v]) => [`val/mP@5/${d}`, v])) }, rec.time / 1000);
      if (improved || !valSet) await averaged(() => save('best', pos)); // without validation, "best" is the newest epoch
      lastCheckpoint = save(checkpointName(pos.step), pos);
      pruneCheckpoints(ckptDir, cfg.keepLast);
      epochs.push(rec);
      opts.onEpoch?.(rec);
      log(`epoch ${rec.epoch}/${totalEpochs} [${rec.stage}] loss ${rec.trainLoss.toFixed(4)}${val ? ` val mP@5 ${val.mP5.toFixed(4)}` : ''} (${rec.seconds.toFixed(1)}s)`);
    }
    // the projector's view of the last validation embeddings, by class and domain
    if (lastVal && valSet) {
      const names = valSet.sources?.names;
      const domain = Array.from({ length: valSet.size }, (_, i) => (names && valSet.sources ? names[valSet.sources.ids[i]] : ''));
      writeProjector(opts.outDir, 'validation', lastVal, model.config.embeddingDim, { label: Array.from(valSet.labels, String), domain });
    }
  } finally {
    bar.stop();
    stage?.optimizer.dispose();
    if (stage?.anchors) tf.dispose([...stage.anchors.values()]);
    ema?.dispose();
  }
  return { epochs, best, lastCheckpoint, resumedFrom };
}

/** Loads the model weights of a checkpoint directory (e.g. outDir/checkpoints/best) into `model`. */
export function loadWeightsInto(model: TrainModel, checkpointDir: string): void {
  restoreWeights(model.params, loadCheckpoint(checkpointDir).tensors, checkpointDir);
}
