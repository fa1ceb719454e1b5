/**
 * Approximate inner-product search with HNSW (hnswlib-node, the maintained binding of hnswlib).
 * Same interface as ExactIndex; labels are insertion indices so results line up with `ids`.
 * Check its recall against the exact index with `recallAgainst` before trusting a setting.
 */
import * as fs from 'fs';
import * as path from 'path';
import { HierarchicalNSW } from 'hnswlib-node';
import { replaceDirAtomic } from '../util/atomic';
import { readIds } from './exact-index';
import { checkAdd, l2Normalize, SearchResult, VectorIndex } from './vector-index';

export interface HnswOptions {
  /** Graph degree (hnswlib M). */
  m: number;
  efConstruction: number;
  /** Search beam width; raised to k when smaller. */
  efSearch: number;
  seed: number;
  /** Initial capacity; the graph grows by doubling. */
  capacity: number;
}

export const DEFAULT_HNSW: HnswOptions = { m: 16, efConstruction: 200, efSearch: 64, seed: 100, capacity: 1024 };

const FORMAT = 'guie-hnsw-index';

interface HnswMeta {
  format: typeof FORMAT;
  version: 1;
  dim: number;
  size: number;
  options: HnswOptions;
}

export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw';
  private readonly graph: HierarchicalNSW;
  private readonly idList: string[] = [];
  private readonly idSet = new Set<string>();
  private capacity: number;
  readonly options: HnswOptions;

  constructor(
    readonly dim: number,
    options: Partial<HnswOptions> = {},
    graph?: HierarchicalNSW,
  ) {
    this.options = { ...DEFAULT_HNSW, ...options };
    this.capacity = this.options.capacity;
    if (graph) {
      this.graph = graph;
      this.capacity = graph.getMaxElements();
    } else {
      this.graph = new HierarchicalNSW('ip', dim);
      this.graph.initIndex(this.capacity, this.options.m, this.options.efConstruction, this.options.seed);
    }
  }

  get size(): number {
    return this.idList.length;
  }

  /** Trades speed for recall at search time (saved with the index). */
  setEfSearch(ef: number): void {
    if (!Number.isInteger(ef) || ef < 1) throw new Error(`setEfSearch: expected a positive integer, got ${ef}`);
    this.options.efSearch = ef;
  }

  get ids(): readonly string[] {
    return this.idList;
  }

  add(ids: readonly string[], vectors: Float32Array, onProgress?: (done: number) => void): void {
    checkAdd(ids, vectors, this.dim, this.idSet);
    const unit = l2Normalize(vectors, this.dim);
    const need = this.size + ids.length;
    if (need > this.capacity) {
      this.capacity = Math.max(need, this.capacity * 2);
      this.graph.resizeIndex(this.capacity);
    }
    for (let i = 0; i < ids.length; i++) {
      this.graph.addPoint(Array.from(unit.subarray(i * this.dim, (i + 1) * this.dim)), this.size);
      this.idList.push(ids[i]);
      this.idSet.add(ids[i]);
      if (onProgress && (i + 1) % 10000 === 0) onProgress(i + 1);
    }
  }

  async search(queries: Float32Array, k: number): Promise<SearchResult> {
    const nq = queries.length / this.dim;
    if (!Number.isInteger(nq)) throw new Error(`search: query buffer of ${queries.length} floats is not a multiple of dim ${this.dim}`);
    if (!Number.isInteger(k) || k < 1) throw new Error(`search: k must be a positive integer, got ${k}`);
    const indices = new Int32Array(nq * k).fill(-1);
    const scores = new Float32Array(nq * k).fill(-Infinity);
    const kk = Math.min(k, this.size);
    if (kk === 0) return { nq, k, indices, scores };
    this.graph.setEf(Math.max(this.options.efSearch, kk));
    const q = l2Normalize(queries, this.dim);
    for (let i = 0; i < nq; i++) {
      const res = this.graph.searchKnn(Array.from(q.subarray(i * this.dim, (i + 1) * this.dim)), kk);
      // hnswlib's 'ip' distance is 1 - <q,x>; order by score, then lower insertion index (the exact rule).
      const order = res.neighbors.map((label, j) => ({ label, score: 1 - res.distances[j] }));
      order.sort((a, b) => b.score - a.score || a.label - b.label);
      order.forEach((o, j) => {
        indices[i * k + j] = o.label;
        scores[i * k + j] = o.score;
      });
    }
    return { nq, k, indices, scores };
  }

  save(dir: string): void {
    const meta: HnswMeta = { format: FORMAT, version: 1, dim: this.dim, size: this.size, options: this.options };
    replaceDirAtomic(dir, (tmp) => {
      this.graph.writeIndexSync(path.join(tmp, 'graph.hnsw'));
      fs.writeFileSync(path.join(tmp, 'ids.json'), JSON.stringify(this.idList));
      fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
    });
  }

  static load(dir: string): HnswIndex {
    const metaFile = path.join(dir, 'meta.json');
    if (!fs.existsSync(metaFile)) throw new Error(`${metaFile}: missing (not an HNSW index directory)`);
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as Partial<HnswMeta>;
    if (meta.format !== FORMAT || meta.version !== 1 || !Number.isInteger(meta.dim) || !Number.isInteger(meta.size) || !meta.options) {
      throw new Error(`${metaFile}: not a ${FORMAT} v1 meta file`);
    }
    const ids = readIds(path.join(dir, 'ids.json'), meta.size!);
    const graph = new HierarchicalNSW('ip', meta.dim!);
    graph.readIndexSync(path.join(dir, 'graph.hnsw'));
    if (graph.getCurrentCount() !== meta.size) {
      throw new Error(`${path.join(dir, 'graph.hnsw')}: holds ${graph.getCurrentCount()} vectors, meta.json says ${meta.size}`);
    }
    const index = new HnswIndex(meta.dim!, meta.options, graph);
    for (const id of ids) index.idList.push(id), index.idSet.add(id);
    return index;
  }

  async dispose(): Promise<void> {
    // hnswlib-node frees the graph with the JS object.
  }
}

/** Mean share of the exact top-k that the approximate top-k found (recall@k against exact). */
export function recallAgainst(approx: SearchResult, exact: SearchResult, k = exact.k): number {
  if (approx.nq !== exact.nq) throw new Error(`recallAgainst: ${approx.nq} vs ${exact.nq} queries`);
  let hit = 0;
  let total = 0;
  for (let q = 0; q < exact.nq; q++) {
    const truth = new Set<number>();
    for (let j = 0; j < Math.min(k, exact.k); j++) {
      const i = exact.indices[q * exact.k + j];
      if (i >= 0) truth.add(i);
    }
    for (let j = 0; j < Math.min(k, approx.k); j++) if (truth.has(approx.indices[q * approx.k + j])) hit++;
    total += truth.size;
  }
  return total === 0 ? 1 : hit / total;
}
