/**
 * What every nearest-neighbour index offers (exact and HNSW): string ids, unit vectors,
 * top-k by inner product (= cosine, = Euclidean order for unit vectors), atomic save.
 */

export interface SearchResult {
  nq: number;
  k: number;
  /** nq*k row-major insertion indices, best first; -1 where fewer than k vectors exist. */
  indices: Int32Array;
  /** nq*k inner products matching `indices` (-Infinity for padding). */
  scores: Float32Array;
}

export interface VectorIndex {
  readonly kind: 'exact' | 'hnsw';
  readonly dim: number;
  readonly size: number;
  readonly ids: readonly string[];
  /** Appends vectors (n*dim row-major); each row is L2-normalised on the way in. */
  add(ids: readonly string[], vectors: Float32Array): void;
  /** Top-k neighbours of each query row (queries are L2-normalised too). */
  search(queries: Float32Array, k: number): Promise<SearchResult>;
  /** Writes the index as one directory, atomically (a crash leaves the old copy or the new one). */
  save(dir: string): void;
  dispose(): Promise<void>;
}

/** Copy of `vectors` with every row scaled to unit length (zero rows stay zero). */
export function l2Normalize(vectors: Float32Array, dim: number): Float32Array {
  if (vectors.length % dim !== 0) throw new Error(`vector buffer of ${vectors.length} floats is not a multiple of dim ${dim}`);
  const out = new Float32Array(vectors.length);
  for (let r = 0; r < vectors.length; r += dim) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += vectors[r + j] * vectors[r + j];
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let j = 0; j < dim; j++) out[r + j] = vectors[r + j] * inv;
  }
  return out;
}

/** Ranked neighbour ids per query (padding dropped): the shape the metrics take. */
export function neighbourIds(result: SearchResult, ids: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let q = 0; q < result.nq; q++) {
    const row: string[] = [];
    for (let j = 0; j < result.k; j++) {
      const i = result.indices[q * result.k + j];
      if (i >= 0) row.push(ids[i]);
    }
    out.push(row);
  }
  return out;
}

/** Checks ids/vectors agree and that no id repeats (within the batch or against `existing`). */
export function checkAdd(ids: readonly string[], vectors: Float32Array, dim: number, existing: ReadonlySet<string>): void {
  if (vectors.length !== ids.length * dim) {
    throw new Error(`add: ${ids.length} ids but ${vectors.length / dim} vectors of dim ${dim}`);
  }
  const batch = new Set<string>();
  for (const id of ids) {
    if (existing.has(id) || batch.has(id)) throw new Error(`add: id "${id}" is already in the index`);
    batch.add(id);
  }
}
