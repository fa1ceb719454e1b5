/**
 * Frozen-backbone features computed once, to disk, then read for many head-training epochs.
 * Layout of a cache directory (rows in data order):
 *   features.f32  rows·dim float32      labels.i32  rows int32      sources.i32  rows int32
 *   meta.json     { dim, total, done, key, sourceNames }   (written atomically after each chunk)
 * Resumable: `done` counts rows whose bytes were fsynced before meta.json was replaced; on resume
 * the row files are cut back to `done` rows (a kill between append and meta leaves extra bytes).
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { writeJsonAtomic, writeFileSynced } from '../util/atomic';
import { progress } from '../util/progress';
import type { Dataset } from './train-config';

const FORMAT = 'guie-feature-cache';

export interface FeatureCacheMeta {
  format: typeof FORMAT;
  version: 1;
  dim: number;
  total: number;
  done: number;
  /** What produced the features (backbone name, image size, split...): a mismatch means the cache is stale. */
  key: string;
  sourceNames: string[];
}

export interface FeatureBatch {
  features: Float32Array; // count·dim
  labels: Int32Array;
  /** Data source of each row (products10k, gldv2, ...), for per-source metrics. */
  sources: readonly string[];
}

export interface FeatureCache {
  dir: string;
  dim: number;
  count: number;
  features: Float32Array;
  labels: Int32Array;
  sources: Int32Array;
  sourceNames: string[];
}

export interface BuildCacheOptions {
  dir: string;
  dim: number;
  total: number;
  key: string;
  batchSize: number;
  /** Computes rows [start, start+count): the data pipeline + frozen backbone. */
  produce: (start: number, count: number) => Promise<FeatureBatch>;
  label?: string;
  progressMode?: 'bar' | 'lines' | 'silent';
  /** Told when an existing cache was made from other inputs and is rebuilt (default: console.warn). */
  onStale?: (message: string) => void;
}

const FILES = { features: 'features.f32', labels: 'labels.i32', sources: 'sources.i32' } as const;

function readMeta(dir: string): FeatureCacheMeta | null {
  const file = path.join(dir, 'meta.json');
  if (!fs.existsSync(file)) return null;
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<FeatureCacheMeta>;
  if (m.format !== FORMAT || m.version !== 1 || !Number.isInteger(m.dim) || !Number.isInteger(m.done) || !Number.isInteger(m.total)) {
    throw new Error(`${file}: not a ${FORMAT} v1 meta file`);
  }
  return m as FeatureCacheMeta;
}


/** What changed, part by part ('|'-separated `name=value` key parts, dim, rows), each value cut to 80 characters. */
function staleness(meta: FeatureCacheMeta, opts: BuildCacheOptions): string {
  const cut = (v: string) => (v.length > 80 ? `${v.slice(0, 77)}...` : v);
  const parts = (key: string) => new Map(key.split('|').map((p, i) => (p.includes('=') ? [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] : [`part ${i}`, p])));
  const was = parts(meta.key);
  const now = parts(opts.key);
  const changes: string[] = [];
  for (const k of new Set([...was.keys(), ...now.keys()])) if (was.get(k) !== now.get(k)) changes.push(`${k}: ${cut(was.get(k) ?? '-')} -> ${cut(now.get(k) ?? '-')}`);
  if (meta.dim !== opts.dim) changes.push(`dim ${meta.dim} -> ${opts.dim}`);
  if (meta.total !== opts.total) changes.push(`rows ${meta.total} -> ${opts.total}`);
  return changes.join('; ');
}

function bytesOf(a: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Builds (or resumes, or finds complete, or rebuilds when stale) the cache in `opts.dir`; returns its final meta. */
export async function buildFeatureCache(opts: BuildCacheOptions): Promise<FeatureCacheMeta> {
  fs.mkdirSync(opts.dir, { recursive: true });
  let meta = readMeta(opts.dir);
  if (meta && (meta.key !== opts.key || meta.dim !== opts.dim || meta.total !== opts.total)) {
    // Derived data from other inputs (backbone, preprocessing, records): start over rather than mix rows.
    (opts.onStale ?? ((m: string) => console.warn(m)))(`${opts.dir}: feature cache is stale (${staleness(meta, opts)}): rebuilding it`);
    for (const f of [...Object.values(FILES), 'meta.json']) fs.rmSync(path.join(opts.dir, f), { force: true });
    meta = null;
  }
  meta ??= { format: FORMAT, version: 1, dim: opts.dim, total: opts.total, done: 0, key: opts.key, sourceNames: [] };
  const rowBytes = { features: opts.dim * 4, labels: 4, sources: 4 };
  for (const k of Object.keys(FILES) as (keyof typeof FILES)[]) {
    const file = path.join(opts.dir, FILES[k]);
    if (!fs.existsSync(file)) fs.writeFileSync(file, new Uint8Array(0));
    const want = meta.done * rowBytes[k];
    const have = fs.statSync(file).size;
    if (have < want) throw new Error(`${file}: ${have} bytes but meta.json says ${meta.done} rows (${want} bytes) are done: the cache is damaged, delete it`);
    if (have > want) fs.truncateSync(file, want); // rows appended by a run killed before its meta update
  }
  writeJsonAtomic(path.join(opts.dir, 'meta.json'), meta);
  const bar = progress({ label: opts.label ?? `features ${path.basename(opts.dir)}`, total: opts.total, mode: opts.progressMode });
  bar.update(meta.done);
  const t0 = Date.now();
  const startDone = meta.done;
  while (meta.done < meta.total) {
    const n = Math.min(opts.batchSize, meta.total - meta.done);
    const b = await opts.produce(meta.done, n);
    if (b.features.length !== n * opts.dim || b.labels.length !== n || b.sources.length !== n) {
      throw new Error(`feature producer returned ${b.features.length / opts.dim} rows/${b.labels.length} labels/${b.sources.length} sources for rows ${meta.done}..${meta.done + n}, expected ${n}`);
    }
    const names: string[] = [...meta.sourceNames];
    const src = Int32Array.from(b.sources, (s) => {
      let i = names.indexOf(s);
      if (i < 0) i = names.push(s) - 1;
      return i;
    });
    writeFileSynced(path.join(opts.dir, FILES.features), bytesOf(b.features), 'a');
    writeFileSynced(path.join(opts.dir, FILES.labels), bytesOf(b.labels), 'a');
    writeFileSynced(path.join(opts.dir, FILES.sources), bytesOf(src), 'a');
    meta = { ...meta, done: meta.done + n, sourceNames: names };
    writeJsonAtomic(path.join(opts.dir, 'meta.json'), meta);
    const rate = (meta.done - startDone) / Math.max(1e-3, (Date.now() - t0) / 1000);
    bar.update(meta.done, { 'img/s': rate.toFixed(1) });
  }
  bar.stop();
  return meta;
}

function readTyped<T extends Float32Array | Int32Array>(file: string, ctor: new (n: number) => T, count: number): T {
  const buf = fs.readFileSync(file);
  const out = new ctor(count);
  if (buf.byteLength < out.byteLength) throw new Error(`${file}: ${buf.byteLength} bytes, expected at least ${out.byteLength}`);
  new Uint8Array(out.buffer).set(buf.subarray(0, out.byteLength));
  return out;
}

/** Loads a complete cache into memory; an unfinished one is an error naming the directory. */
export function loadFeatureCache(dir: string): FeatureCache {
  const meta = readMeta(dir);
  if (!meta) throw new Error(`${dir}: no meta.json (not a feature cache directory)`);
  if (meta.done !== meta.total) throw new Error(`${dir}: feature cache is incomplete (${meta.done}/${meta.total} rows); run the feature build again to resume it`);
  const features = readTyped(path.join(dir, FILES.features), Float32Array, meta.done * meta.dim);
  const labels = readTyped(path.join(dir, FILES.labels), Int32Array, meta.done);
  const sources = readTyped(path.join(dir, FILES.sources), Int32Array, meta.done);
  return { dir, dim: meta.dim, count: meta.done, features, labels, sources, sourceNames: meta.sourceNames };
}

/** A loaded cache as the training loop's Dataset (rows gathered into a [n, dim] tensor). */
export function cacheDataset(cache: FeatureCache): Dataset {
  return {
    size: cache.count,
    labels: cache.labels,
    sources: { ids: cache.sources, names: cache.sourceNames },
    rows(indices) {
      const out = new Float32Array(indices.length * cache.dim);
      for (const [j, i] of indices.entries()) out.set(cache.features.subarray(i * cache.dim, (i + 1) * cache.dim), j * cache.dim);
      return tf.tensor2d(out, [indices.length, cache.dim]);
    },
  };
}
