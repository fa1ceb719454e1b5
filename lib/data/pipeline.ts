/**
 * The input pipeline, tf.data style:
 *   list shards -> seeded 90/10 split by shard (+ DEBUG subset) -> per epoch: shuffle shard order,
 *   interleave `cycleLength` shards -> shuffle buffer -> decode + resize + augment in worker
 *   threads (in order, `prefetch` batches ahead) -> batches of NHWC float32 tensors.
 * Deterministic for a seed: every random choice comes from (seed, epoch, position), never from
 * which worker finished first. Bad records and undecodable images are skipped and reported.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { Preprocess } from '../core/preprocess';
import { DEFAULT_AUGMENT, mixSeed, type AugmentConfig } from './augment';
import { Rng } from '../util/random';
import { DEFAULT_MAX_PIXELS, normalizeRgb } from './image';
import { DEFAULT_SCHEMA, decodeRecord, type RecordSchema } from './schema';
import { newReadStats, readTfRecords } from './tfrecord';
import { transformSample, type TransformSpec } from './transform';
import type { WorkerResult, WorkerTask } from './worker';
import { WorkerPool } from './worker-pool';

export { DEFAULT_AUGMENT };

const RECORD_FILE = /\.(tfrec|tfrecord|tfrecords)$/;

/** Files and directories -> sorted record files (directories are searched recursively). */
export function listShards(inputs: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) throw new Error(`${p}: no such file or directory`);
    if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
    else if (RECORD_FILE.test(p) || inputs.includes(p)) out.push(p);
  };
  inputs.forEach(walk);
  return [...new Set(out)].sort();
}

/** Split by record file, as the reference notebook does (10% of files for validation). */
export function splitShards(files: readonly string[], validFraction: number, seed: number): { train: string[]; valid: string[] } {
  const sorted = [...files].sort();
  const nValid = validFraction > 0 && sorted.length > 1 ? Math.min(sorted.length - 1, Math.max(1, Math.round(sorted.length * validFraction))) : 0;
  const order = new Rng(mixSeed(seed, 0x5b11)).shuffled(sorted);
  const valid = new Set(order.slice(0, nValid));
  return { train: sorted.filter((f) => !valid.has(f)), valid: sorted.filter((f) => valid.has(f)) };
}

/** DEBUG mode: a seeded sample of a few record files. */
export function debugSubset(files: readonly string[], n: number, seed: number): string[] {
  return new Rng(mixSeed(seed, 0xdeb6)).shuffled([...files].sort()).slice(0, n).sort();
}

export interface BadSample {
  file: string;
  /** Record index in its file. */
  index: number;
  /** Record id (its id feature, else "file#index", as the data set names it). */
  id: string;
  reason: string;
}

export interface PipelineOptions {
  files: string[];
  preprocess: Preprocess;
  batchSize: number;
  seed?: number;
  epochs?: number;
  /** Records held for shuffling; 0 = keep file order (evaluation). */
  shuffleBuffer?: number;
  /** Shards read at once, one record from each in turn (tf.data interleave, block_length 1). */
  cycleLength?: number;
  /** Shuffle the shard order every epoch (default: when shuffleBuffer > 0). */
  shuffleFiles?: boolean;
  /** null = CLIP evaluation preprocessing. */
  augment?: AugmentConfig | null;
  /** Worker threads; 0 = run image work on the main thread (TurboJPEG and the pixel kernels are synchronous there). */
  workers?: number;
  /** Batches prepared ahead of the consumer. */
  prefetch?: number;
  maxPixels?: number;
  schema?: RecordSchema;
  dropRemainder?: boolean;
  /** Called for every skipped record or image; they are also counted in `stats`. */
  onBad?: (bad: BadSample) => void;
  /** Records left out unread and unreported (`recordKey`s): the ones a data set opened with skipBad found bad. */
  exclude?: ReadonlySet<string>;
  stats?: PipelineStats;
}

export interface PipelineStats {
  records: number;
  samples: number;
  bad: BadSample[];
}

export const newPipelineStats = (): PipelineStats => ({ records: 0, samples: 0, bad: [] });

interface RecordRef {
  file: string;
  index: number;
  id: string;
  label: number;
  source?: string;
  image: Uint8Array;
}

export interface Sample {
  id: string;
  label: number;
  source?: string;
  file: string;
  index: number;
  epoch: number;
  /** imageSize x imageSize RGB, uint8 HWC (batches() normalises with the backbone's mean/std). */
  pixels: Uint8Array;
}

/** Names one record of a data set across stages: its file and its index there. */
export const recordKey = (file: string, index: number): string => `${file}#${index}`;

/** One epoch's record stream: shard order, interleave, Example parsing; bad records reported and skipped. */
async function* interleaveRecords(files: string[], cycleLength: number, schema: RecordSchema, report: (b: BadSample) => void, exclude?: ReadonlySet<string>): AsyncGenerator<RecordRef> {
  const pending = [...files];
  type Open = { file: string; it: AsyncGenerator<Uint8Array>; stats: ReturnType<typeof newReadStats>; reported: number };
  const open = (file: string): Open => {
    const stats = newReadStats();
    return { file, it: readTfRecords(file, { skipCorrupt: true, stats }), stats, reported: 0 };
  };
  const active: Open[] = [];
  while (active.length < cycleLength && pending.length > 0) active.push(open(pending.shift() as string));
  let k = 0;
  try {
    while (active.length > 0) {
      k %= active.length;
      const cur = active[k];
      const next = await cur.it.next();
      for (; cur.reported < cur.stats.errors.length; cur.reported++) {
        const e = cur.stats.errors[cur.reported];
        report({ file: e.file, index: e.index, id: `${path.basename(e.file)}#${e.index}`, reason: e.message });
      }
      if (next.done) {
        active.splice(k, 1);
        if (pending.length > 0) active.splice(k, 0, open(pending.shift() as string));
        continue;
      }
      const index = cur.stats.records + cur.stats.corrupt - 1;
      const fallbackId = `${path.basename(cur.file)}#${index}`;
      if (exclude?.has(recordKey(cur.file, index))) {
        k += 1;
        continue;
      }
      try {
        const rec = decodeRecord(next.value, schema, `${cur.file} record ${index}`);
        yield { file: cur.file, index, id: rec.id ?? fallbackId, label: rec.label, source: rec.source, image: rec.image };
      } catch (e) {
        report({ file: cur.file, index, id: fallbackId, reason: (e as Error).message });
      }
      k += 1;
    }
  } finally {
    // A consumer that stops early must not leak open file handles.
    await Promise.all(active.map((a) => a.it.return(undefined)));
  }
}

/** tf.data shuffle(buffer): fill, then emit a random slot and refill it. */
async function* shuffleBuffer<T>(source: AsyncIterable<T>, size: number, r: Rng): AsyncGenerator<T> {
  if (size <= 1) return yield* source;
  const buf: T[] = [];
  for await (const x of source) {
    if (buf.length < size) {
      buf.push(x);
      continue;
    }
    const j = r.int(size);
    yield buf[j];
    buf[j] = x;
  }
  while (buf.length > 0) {
    const j = r.int(buf.length);
    yield buf[j];
    buf[j] = buf[buf.length - 1];
    buf.pop();
  }
}

/** Preprocessed samples (uint8 pixels) in a deterministic order, all epochs. */
export async function* samples(opts: PipelineOptions): AsyncGenerator<Sample> {
  const seed = opts.seed ?? 0;
  const epochs = opts.epochs ?? 1;
  const stats = opts.stats ?? newPipelineStats();
  const bufferSize = opts.shuffleBuffer ?? 0;
  const spec: TransformSpec = {
    preprocess: opts.preprocess,
    augment: opts.augment === undefined ? null : opts.augment,
    maxPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS,
  };
  const report = (b: BadSample) => {
    stats.bad.push(b);
    opts.onBad?.(b);
  };
  const nWorkers = opts.workers ?? Math.max(1, os.availableParallelism());
  const pool = nWorkers > 0 ? new WorkerPool(nWorkers, spec) : null;
  const window = Math.max(opts.batchSize * (opts.prefetch ?? 2), 2 * Math.max(1, nWorkers));
  let seq = 0;
  type Job = { ref: RecordRef; epoch: number; result: Promise<WorkerResult> };
  const inflight: Job[] = [];
  const finish = async (job: Job): Promise<Sample | null> => {
    const r = await job.result;
    if ('error' in r) {
      report({ file: job.ref.file, index: job.ref.index, id: job.ref.id, reason: r.error });
      return null;
    }
    stats.samples += 1;
    const { file, index, id, label, source } = job.ref;
    return { id, label, source, file, index, epoch: job.epoch, pixels: r.data };
  };
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = (opts.shuffleFiles ?? bufferSize > 0) ? new Rng(mixSeed(seed, epoch, 0xf11e)).shuffled(opts.files) : [...opts.files];
      const records = interleaveRecords(order, opts.cycleLength ?? 4, opts.schema ?? DEFAULT_SCHEMA, report, opts.exclude);
      let position = 0;
      for await (const ref of shuffleBuffer(records, bufferSize, new Rng(mixSeed(seed, epoch, 0x5b0f)))) {
        stats.records += 1;
        const task: WorkerTask = { seq: seq++, bytes: ref.image, name: ref.id, seed: mixSeed(seed, epoch, position++) };
        const result = pool
          ? pool.run(task)
          : transformSample(task.bytes, task.name, task.seed, spec).then(
              (data): WorkerResult => ({ seq: task.seq, data }),
              (e: Error): WorkerResult => ({ seq: task.seq, error: e.message }),
            );
        inflight.push({ ref, epoch, result });
        if (inflight.length >= window) {
          const s = await finish(inflight.shift() as Job);
          if (s) yield s;
        }
      }
    }
    while (inflight.length > 0) {
      const s = await finish(inflight.shift() as Job);
      if (s) yield s;
    }
  } finally {
    // Settle abandoned work before tearing the workers down.
    await Promise.all(inflight.map((j) => j.result));
    await pool?.close();
  }
}

export interface Batch {
  /** [B, size, size, 3] float32, normalised with the backbone's mean/std. */
  images: tf.Tensor4D;
  labels: tf.Tensor1D;
  ids: string[];
  sources: Array<string | undefined>;
  epoch: number;
}

/** Samples grouped into tensors; a batch never spans two epochs. The caller disposes each batch's tensors. */
export async function* batches(opts: PipelineOptions): AsyncGenerator<Batch> {
  const size = opts.preprocess.imageSize;
  const per = size * size * 3;
  let group: Sample[] = [];
  const emit = (): Batch => {
    const buf = new Float32Array(group.length * per);
    group.forEach((s, i) => normalizeRgb({ data: s.pixels, width: size, height: size }, opts.preprocess, buf, i * per));
    const b: Batch = {
      images: tf.tensor4d(buf, [group.length, size, size, 3], 'float32'),
      labels: tf.tensor1d(group.map((s) => s.label), 'int32'),
      ids: group.map((s) => s.id),
      sources: group.map((s) => s.source),
      epoch: group[0].epoch,
    };
    group = [];
    return b;
  };
  for await (const s of samples(opts)) {
    if (group.length > 0 && s.epoch !== group[0].epoch) {
      if (!opts.dropRemainder) yield emit();
      else group = [];
    }
    group.push(s);
    if (group.length === opts.batchSize) yield emit();
  }
  if (group.length > 0 && !opts.dropRemainder) yield emit();
}
