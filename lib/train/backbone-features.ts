/**
 * TFRecord shards -> data pipeline (evaluation preprocessing, file order) -> frozen backbone ->
 * feature cache on disk: the cached-feature training path of several top teams. Resumable: a
 * rebuilt run skips the rows the cache already holds (their images are decoded again but not
 * re-embedded), so the backbone, the slow part, never runs twice on a row.
 */
import * as tf from '@tensorflow/tfjs';
import { Batch, batches, type BadSample } from '../data/pipeline';
import { PIXELS_VERSION } from '../data/image';
import { countTfRecords } from '../data/tfrecord';
import { dataFingerprint } from '../data/fingerprint';
import type { Backbone } from '../model/backbones';
import { buildFeatureCache, FeatureBatch, FeatureCacheMeta } from './feature-cache';

export interface BackboneFeaturesOptions {
  files: string[];
  backbone: Backbone;
  dir: string;
  batchSize?: number;
  /** Pipeline worker threads (0 = main thread). */
  workers?: number;
  /** Labels are stored minus this offset (a split whose labels start above 0). */
  labelOffset?: number;
  progressMode?: 'bar' | 'lines' | 'silent';
  /** Content fingerprint of `files` (lib/data/fingerprint.ts); computed here when not given. */
  fingerprint?: string;
  /** Records the data set left out (`recordKey`s, see skipBad): not rows of the cache. */
  exclude?: ReadonlySet<string>;
  /** Rows the cache will hold (the data set's row count; default: every record of `files`). */
  rows?: number;
}

export async function countRecords(files: readonly string[]): Promise<number> {
  let n = 0;
  for (const f of files) n += (await countTfRecords(f)).records;
  return n;
}

/** What a feature cache's rows are made from: backbone, its preprocessing, pixel code, record contents (not paths), label offset. */
export function featureCacheKey(backbone: Pick<Backbone, 'name' | 'preprocess'>, dataFingerprint: string, labelOffset = 0): string {
  const pp = backbone.preprocess;
  return `backbone=${backbone.name}|pixels=${pp.imageSize}px,${pp.resize},mean${pp.mean.join(',')},std${pp.std.join(',')},v${PIXELS_VERSION}|data=${dataFingerprint}|labelOffset=${labelOffset}|order=file`;
}

/** Embeds every record of `files` once with the backbone into `dir` (or finishes an interrupted build). */
export async function cacheBackboneFeatures(opts: BackboneFeaturesOptions): Promise<FeatureCacheMeta> {
  const batchSize = opts.batchSize ?? 32;
  const total = opts.rows ?? (await countRecords(opts.files));
  const offset = opts.labelOffset ?? 0;
  const pp = opts.backbone.preprocess;
  const key = featureCacheKey(opts.backbone, opts.fingerprint ?? dataFingerprint(opts.files), offset);
  let stream: AsyncGenerator<Batch> | null = null;
  let pending: FeatureBatch = { features: new Float32Array(0), labels: new Int32Array(0), sources: [] };
  let position = 0;
  const dim = opts.backbone.featureDim;

  // cache row i must be record i: any record the pipeline skips is fatal here, and named at once
  const bad: BadSample[] = [];
  const pull = async (embed: boolean): Promise<void> => {
    // file order, one shard at a time: cache row i is record i of the concatenated files (ids and solutions line up)
    stream ??= batches({ files: opts.files, preprocess: pp, batchSize, shuffleBuffer: 0, shuffleFiles: false, cycleLength: 1, augment: null, epochs: 1, workers: opts.workers ?? 0, onBad: (b) => bad.push(b), exclude: opts.exclude });
    const next = await stream!.next();
    if (bad.length > 0) {
      const b = bad[0];
      throw new Error(`${b.file} record ${b.index}: ${b.reason}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ''}: a feature cache needs every record; fix or drop it and rebuild the records (guie inspect-records --decode lists them all), or leave such records out with --skip-bad`);
    }
    if (next.done) throw new Error(`${opts.files.join(', ')}: the pipeline ended at row ${position + pending.labels.length}, expected ${total} records (bad records skipped?)`);
    const b = next.value;
    try {
      const n = b.ids.length;
      const feats = embed ? tf.tidy(() => opts.backbone.features(b.images)) : null;
      const values = feats ? (feats.dataSync() as Float32Array) : new Float32Array(n * dim);
      feats?.dispose();
      const labels = Int32Array.from(b.labels.dataSync(), (l) => l - offset);
      pending = {
        features: concat(pending.features, values),
        labels: Int32Array.from([...pending.labels, ...labels]),
        sources: [...pending.sources, ...b.sources.map((s) => s ?? 'unknown')],
      };
    } finally {
      b.images.dispose();
      b.labels.dispose();
    }
  };
  const take = (n: number): FeatureBatch => {
    const out = { features: pending.features.slice(0, n * dim), labels: pending.labels.slice(0, n), sources: pending.sources.slice(0, n) };
    pending = { features: pending.features.slice(n * dim), labels: pending.labels.slice(n), sources: pending.sources.slice(n) };
    position += n;
    return out;
  };

  try {
    return await buildFeatureCache({
      dir: opts.dir,
      dim,
      total,
      key,
      batchSize,
      label: `features ${opts.backbone.name}`,
      progressMode: opts.progressMode,
      produce: async (start, n) => {
        // rows already in the cache: read past them without running the backbone
        while (position < start) {
          // a pipeline batch that reaches past `start` is embedded: its later rows are needed
          if (pending.labels.length === 0) await pull(position + batchSize > start);
          take(Math.min(start - position, pending.labels.length));
        }
        while (pending.labels.length < n) await pull(true);
        return take(n);
      },
    });
  } finally {
    await (stream as AsyncGenerator<Batch> | null)?.return(undefined);
  }
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
