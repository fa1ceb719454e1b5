/**
 * The stages before training, shared by `guie run` and `guie train`: data set -> split ->
 * backbone features of every row (one cache per data location and backbone, keyed by content;
 * for a packaged CNN's backbone stage also the activations feeding its last blocks)
 * -> the training and validation Datasets (training labels renumbered 0..K-1).
 */
import { createHash } from 'crypto';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../config';
import type { DataSet } from '../data/dataset';
import { recordKey } from '../data/pipeline';
import type { DataSplit } from '../data/split';
import type { Backbone } from '../model/backbones';
import { PROJECT_ROOT } from '../util/paths';
import { cacheBackboneFeatures, featureCacheKey } from './backbone-features';
import { disposeCnnGraph, runSubgraph } from '../model/cnn-graph';
import { cnnCut, prefixBackbone, type CnnCut } from './cnn-backbone';
import { buildFeatureCache, loadFeatureCache, type FeatureCache, type FeatureCacheMeta } from './feature-cache';
import type { Dataset } from './train-config';

export interface DataFeatures {
  cache: FeatureCache;
  /** The cache's key: backbone, preprocessing, pixel version and the data fingerprint. */
  key: string;
}

/** What a feature pass reads of a data set: its files, minus the records skipBad left out, one cache row per data set row. */
function recordsOf(data: DataSet): { files: string[]; fingerprint: string; exclude?: ReadonlySet<string>; rows: number } {
  const exclude = data.skipped.length > 0 ? new Set(data.skipped.map((b) => recordKey(b.file, b.index))) : undefined;
  return { files: data.files, fingerprint: data.fingerprint, exclude, rows: data.rows.length };
}

/** One cache folder per (data location, backbone); its key says whether the contents still match. */
export function featureDir(config: Config, data: DataSet, backbone: string): string {
  const where = data.origin === 'sample' ? 'sample' : path.basename(data.input).replace(/[^\w.-]/g, '_');
  const tag = createHash('sha256').update(path.resolve(data.input)).digest('hex').slice(0, 10);
  return path.resolve(PROJECT_ROOT, config.paths.cache, 'features', `${where}-${tag}`, backbone);
}

/**
 * Backbone features of every row of the data set, in row order (built, resumed, reused, or rebuilt when stale).
 * With a packaged CNN and a backbone stage ahead (backboneEpochs > 0), the images pass once: through the frozen
 * prefix into the stage's cut cache, and from there through the untouched last blocks into the features.
 */
export async function dataFeatures(config: Config, data: DataSet, backbone: Backbone, opts: { progressMode?: 'bar' | 'lines' | 'silent'; onStale?: (m: string) => void } = {}): Promise<DataFeatures> {
  const dir = featureDir(config, data, backbone.name);
  const meta = await (config.backboneEpochs > 0 && backbone.cnn ? fromCut(config, data, backbone, dir, opts.progressMode) : cacheBackboneFeatures({ ...recordsOf(data), backbone, dir, batchSize: config.batchSize, progressMode: opts.progressMode }));
  const cache = loadFeatureCache(dir);
  if (cache.count !== data.rows.length) throw new Error(`${dir}: ${cache.count} feature rows for ${data.rows.length} records`);
  return { cache, key: meta.key };
}

async function fromCut(config: Config, data: DataSet, backbone: Backbone, dir: string, progressMode?: 'bar' | 'lines' | 'silent'): Promise<FeatureCacheMeta> {
  const { cut, cache } = await cutActivations(config, data, backbone, config.backboneBlocks, progressMode);
  try {
    return await featuresFromCut(backbone, cut, cache, dir, data.fingerprint, progressMode);
  } finally {
    disposeCnnGraph(cut.graph);
  }
}

/** Rows of a feature cache as the loop's Dataset; `labels` replaces the cached labels (renumbered training classes). */
export function rowsDataset(cache: FeatureCache, rows: readonly number[], labels?: Int32Array): Dataset {
  return {
    size: rows.length,
    labels: labels ?? Int32Array.from(rows, (r) => cache.labels[r]),
    sources: { ids: Int32Array.from(rows, (r) => cache.sources[r]), names: cache.sourceNames },
    rows(indices) {
      const out = new Float32Array(indices.length * cache.dim);
      for (const [j, i] of indices.entries()) out.set(cache.features.subarray(rows[i] * cache.dim, (rows[i] + 1) * cache.dim), j * cache.dim);
      return tf.tensor2d(out, [indices.length, cache.dim]);
    },
  };
}

/** Feature rows of `rows`, packed. */
export function gatherRows(cache: FeatureCache, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * cache.dim);
  rows.forEach((r, j) => out.set(cache.features.subarray(r * cache.dim, (r + 1) * cache.dim), j * cache.dim));
  return out;
}

/** Training labels renumbered 0..K-1 in label order (what the margin head's K classes are). */
export function trainLabels(data: DataSet, split: DataSplit): { labels: Int32Array; numClasses: number } {
  const classes = [...new Set(split.train.map((r) => data.rows[r].label))].sort((a, b) => a - b);
  const rank = new Map(classes.map((l, i) => [l, i]));
  return { labels: Int32Array.from(split.train, (r) => rank.get(data.rows[r].label)!), numClasses: classes.length };
}

/** The training set and the per-epoch validation set of a split, as cached feature rows. */
export function trainingSets(data: DataSet, split: DataSplit, cache: FeatureCache): { train: Dataset; val: Dataset | null; numClasses: number } {
  const { labels, numClasses } = trainLabels(data, split);
  return {
    train: rowsDataset(cache, split.train, labels),
    val: split.val.length > 0 ? rowsDataset(cache, split.val, Int32Array.from(split.val, (r) => data.rows[r].label)) : null,
    numClasses,
  };
}

/** The cut activations of every row of a data set, cached like features (one pass of the frozen prefix). */
export async function cutActivations(config: Config, data: DataSet, b: Backbone, blocks: number, progressMode?: 'bar' | 'lines' | 'silent'): Promise<{ cut: CnnCut; cache: FeatureCache }> {
  const cut = cnnCut(b, blocks);
  const prefix = prefixBackbone(b, cut);
  const dir = featureDir(config, data, prefix.name);
  await cacheBackboneFeatures({ ...recordsOf(data), backbone: prefix, dir, batchSize: config.batchSize, progressMode });
  const cache = loadFeatureCache(dir);
  if (cache.count !== data.rows.length) throw new Error(`${dir}: ${cache.count} activation rows for ${data.rows.length} records`);
  return { cut, cache };
}

/**
 * The frozen backbone's features from cut activations through the untouched last blocks, into the
 * feature cache a full pass would fill (same key; the interpreter equals the fused graph to float
 * round-off): a backbone stage then costs one pass over the images, not two.
 */
export async function featuresFromCut(b: Backbone, cut: CnnCut, act: FeatureCache, dir: string, fingerprint: string, progressMode?: 'bar' | 'lines' | 'silent'): Promise<FeatureCacheMeta> {
  const batch = 64;
  return buildFeatureCache({
    dir,
    dim: b.featureDim,
    total: act.count,
    key: featureCacheKey(b, fingerprint),
    batchSize: batch,
    label: `features ${b.name} (from its ${cut.shape.join('x')} cut)`,
    progressMode,
    produce: async (start, n) => {
      const x = tf.tensor2d(act.features.subarray(start * act.dim, (start + n) * act.dim), [n, act.dim]);
      const f = tf.tidy(() => runSubgraph(cut.graph, cut.nodes, cut.node, x.reshape([n, ...cut.shape])));
      const features = f.dataSync() as Float32Array;
      tf.dispose([x, f]);
      return { features, labels: act.labels.slice(start, start + n), sources: Array.from(act.sources.subarray(start, start + n), (s) => act.sourceNames[s]) };
    },
  });
}
