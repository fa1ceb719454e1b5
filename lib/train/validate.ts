/**
 * Validation as the challenge scores it, inside one split: every validation embedding is a query
 * against an exact (brute-force) index of all validation embeddings, itself left out; relevant =
 * the other images of its class. mP@5 by the host's definition, overall and per data source.
 * The search runs on the training backend (tf.matMul + tf.topk in blocks) rather than
 * retrieval/exact-index's ONNX Runtime session: same ranking, no second runtime inside the loop.
 */
import * as tf from '@tensorflow/tfjs';
import { calibratedPrecision } from '../retrieval/metrics';
import { l2Normalize } from '../retrieval/vector-index';
import type { TrainModel } from './model';

export interface ValidationResult {
  mP5: number;
  /** Queries scored (images with at least one other image of their class). */
  queries: number;
  bySource: Record<string, number>;
}

/** Embeds `count` rows in batches (no dropout, no margin): the inference graph. Rows may be cached features or images decoded on demand. */
export async function embedAll(model: TrainModel, count: number, rows: (start: number, end: number) => tf.Tensor | Promise<tf.Tensor>, batchSize = 256): Promise<Float32Array> {
  const dim = model.config.embeddingDim;
  const out = new Float32Array(count * dim);
  for (let s = 0; s < count; s += batchSize) {
    const e = Math.min(count, s + batchSize);
    const x = await rows(s, e);
    const emb = model.embed(x);
    out.set(emb.dataSync(), s * dim);
    emb.dispose();
    x.dispose();
  }
  return out;
}

export async function leaveOneOutMP5(
  embeddings: Float32Array,
  dim: number,
  labels: Int32Array,
  sources?: { ids: Int32Array; names: readonly string[] },
): Promise<ValidationResult> {
  const n = labels.length;
  const ids = Array.from({ length: n }, (_, i) => String(i));
  const byLabel = new Map<number, string[]>();
  for (let i = 0; i < n; i++) {
    const l = byLabel.get(labels[i]);
    if (l) l.push(ids[i]);
    else byLabel.set(labels[i], [ids[i]]);
  }
  const solution = new Map<string, string[]>();
  for (let i = 0; i < n; i++) {
    const rel = byLabel.get(labels[i])!.filter((id) => id !== ids[i]);
    if (rel.length > 0) solution.set(ids[i], rel);
  }
  if (solution.size === 0) throw new Error(`validation: none of the ${n} images shares its class with another, mP@5 is undefined`);
  const k = Math.min(6, n);
  const top = exactTopk(l2Normalize(embeddings, dim), dim, k); // cosine ranking, as the exact index
  const predictions = new Map<string, string[]>();
  for (let q = 0; q < n; q++) {
    if (!solution.has(ids[q])) continue;
    const row: string[] = [];
    for (let j = 0; j < k && row.length < 5; j++) {
      const i = top[q * k + j];
      if (i !== q) row.push(ids[i]);
    }
    predictions.set(ids[q], row);
  }
  const bySource: Record<string, number> = {};
  if (sources) {
    for (const [si, name] of sources.names.entries()) {
      const qs = new Set([...solution.keys()].filter((id) => sources.ids[Number(id)] === si));
      if (qs.size > 0) bySource[name] = calibratedPrecision(predictions, solution, 5, qs);
    }
  }
  return { mP5: calibratedPrecision(predictions, solution, 5), queries: solution.size, bySource };
}

/** Top-k rows of `vectors` by inner product with each row of `vectors` (n·k indices, best first). */
export function exactTopk(vectors: Float32Array, dim: number, k: number, blockRows = 1024): Int32Array {
  const n = vectors.length / dim;
  const out = new Int32Array(n * k);
  const index = tf.tensor2d(vectors, [n, dim]);
  try {
    for (let s = 0; s < n; s += blockRows) {
      const e = Math.min(n, s + blockRows);
      const q = tf.tensor2d(vectors.subarray(s * dim, e * dim), [e - s, dim]);
      const idx = tf.tidy(() => tf.topk(tf.matMul(q, index, false, true), k).indices);
      out.set(idx.dataSync(), s * k);
      idx.dispose();
      q.dispose();
    }
  } finally {
    index.dispose();
  }
  return out;
}
