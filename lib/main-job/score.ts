/** Host mP@5 on the held-out queries against the index rows (the split's solution), of any embedding of them. */
import * as tf from '@tensorflow/tfjs';
import type { DataSet } from '../data/dataset';
import type { DataSplit } from '../data/split';
import type { EmbeddingHead } from '../model/heads';
import { ExactIndex } from '../retrieval/exact-index';
import { retrievalMetrics, type MetricsReport } from '../retrieval/metrics';
import { solutionParts } from '../retrieval/solution';
import { neighbourIds } from '../retrieval/vector-index';
import type { FeatureCache } from '../train/feature-cache';
import { gatherRows } from '../train/prepare';

/** The held-out rows and their cached backbone features (`dim` floats a row). */
export interface HeldOut {
  data: DataSet;
  split: DataSplit;
  dim: number;
  queryFeats: Float32Array;
  indexFeats: Float32Array;
}

export function heldOut(data: DataSet, split: DataSplit, cache: FeatureCache): HeldOut {
  return { data, split, dim: cache.dim, queryFeats: gatherRows(cache, split.query), indexFeats: gatherRows(cache, split.index) };
}

/** mP@5 of query vectors against index vectors (ids from the data set's rows). */
export async function score(data: DataSet, split: DataSplit, queryVecs: Float32Array, indexVecs: Float32Array, dim: number): Promise<MetricsReport> {
  const indexIds = split.index.map((r) => data.rows[r].id);
  const index = new ExactIndex(dim);
  try {
    index.add(indexIds, indexVecs);
    const result = await index.search(queryVecs, Math.min(100, indexIds.length));
    const lists = neighbourIds(result, indexIds);
    const predictions = new Map(split.query.map((r, i) => [data.rows[r].id, lists[i]]));
    for (const id of [...predictions.keys()]) if (!split.solution.relevant.has(id)) predictions.delete(id); // held-out singletons
    const { relevance, breakdown } = solutionParts(split.solution);
    return retrievalMetrics(predictions, relevance, breakdown, [1, 5]);
  } finally {
    await index.dispose();
  }
}

/** mP@5 of a head over the frozen backbone's features. */
export async function scoreHead(h: HeldOut, head: EmbeddingHead, embeddingDim: number): Promise<MetricsReport> {
  return score(h.data, h.split, embedRows(head, h.queryFeats, h.dim), embedRows(head, h.indexFeats, h.dim), embeddingDim);
}

function embedRows(head: EmbeddingHead, features: Float32Array, dim: number): Float32Array {
  const y = tf.tidy(() => head.forward(tf.tensor2d(features, [features.length / dim, dim])));
  const out = Float32Array.from(y.dataSync());
  y.dispose();
  return out;
}
