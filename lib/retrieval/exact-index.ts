/**
 * Exact inner-product search (FAISS IndexFlatIP's job): unit float32 vectors, top-k by a batched
 * matrix product over memory-bounded blocks, run by ONNX Runtime (see topk-graph.ts).
 *
 * Tie rule: equal scores rank by lower insertion index first, within a chunk (ORT TopK) and
 * across chunks (the merge keeps earlier chunks first).
 */
import * as fs from 'fs';
import * as path from 'path';
import { replaceDirAtomic } from '../util/atomic';
import { createTopkRunner, TopkRunner } from './topk-graph';
import { checkAdd, l2Normalize, SearchResult, VectorIndex } from './vector-index';

export interface ExactIndexOptions {
  /** Index rows per matrix product. */
  chunkRows?: number;
  /** Upper bound on one block of scores, in bytes (sets how many queries go per product). */
  maxScoreBytes?: number;
  /** ONNX Runtime intra-op threads; 0 = all cores. */
  threads?: number;
}

const FORMAT = 'guie-exact-index';

interface ExactMeta {
  format: typeof FORMAT;
  version: 1;
  dim: number;
  size: number;
}

export class ExactIndex implements VectorIndex {
  readonly kind = 'exact';
  private data: Float32Array;
  private count = 0;
  private readonly idList: string[] = [];
  private readonly idSet = new Set<string>();
  private runner: Promise<TopkRunner> | null = null;
  private readonly opts: Required<ExactIndexOptions>;

  constructor(
    readonly dim: number,
    opts: ExactIndexOptions = {},
  ) {
    if (!Number.isInteger(dim) || dim <= 0) throw new Error(`ExactIndex: bad dim ${dim}`);
    this.opts = { chunkRows: 65536, maxScoreBytes: 256 << 20, threads: 0, ...opts };
    this.data = new Float32Array(1024 * dim);
  }

  get size(): number {
    return this.count;
  }

  get ids(): readonly string[] {
    return this.idList;
  }

  /** The stored unit vectors (size*dim, a view: do not modify). */
  get vectors(): Float32Array {
    return this.data.subarray(0, this.count * this.dim);
  }

  add(ids: readonly string[], vectors: Float32Array): void {
    checkAdd(ids, vectors, this.dim, this.idSet);
    this.append(ids, l2Normalize(vectors, this.dim));
  }

  /** Stores rows that are already unit length (a loaded index: normalising twice would move the last bit). */
  private append(ids: readonly string[], unit: Float32Array): void {
    const need = (this.count + ids.length) * this.dim;
    if (need > this.data.length) {
      const grown = new Float32Array(Math.max(need, this.data.length * 2));
      grown.set(this.data.subarray(0, this.count * this.dim));
      this.data = grown;
    }
    this.data.set(unit, this.count * this.dim);
    for (const id of ids) this.idList.push(id), this.idSet.add(id);
    this.count += ids.length;
  }

  async search(queries: Float32Array, k: number): Promise<SearchResult> {
    const { dim } = this;
    const nq = queries.length / dim;
    if (!Number.isInteger(nq)) throw new Error(`search: query buffer of ${queries.length} floats is not a multiple of dim ${dim}`);
    if (!Number.isInteger(k) || k < 1) throw new Error(`search: k must be a positive integer, got ${k}`);
    const indices = new Int32Array(nq * k).fill(-1);
    const scores = new Float32Array(nq * k).fill(-Infinity);
    if (this.count === 0 || nq === 0) return { nq, k, indices, scores };

    const q = l2Normalize(queries, dim);
    const chunk = Math.min(this.opts.chunkRows, this.count);
    const block = Math.max(1, Math.floor(this.opts.maxScoreBytes / 4 / chunk));
    this.runner ??= createTopkRunner(dim, this.opts.threads);
    const runner = await this.runner;
    for (let q0 = 0; q0 < nq; q0 += block) {
      const bq = Math.min(block, nq - q0);
      const qBlock = q.subarray(q0 * dim, (q0 + bq) * dim);
      for (let x0 = 0; x0 < this.count; x0 += chunk) {
        const rows = Math.min(chunk, this.count - x0);
        const kk = Math.min(k, rows);
        const out = await runner.run(qBlock, bq, this.data.subarray(x0 * dim, (x0 + rows) * dim), rows, kk);
        for (let i = 0; i < bq; i++) mergeTopk(indices, scores, (q0 + i) * k, k, out.indices, out.scores, i * kk, kk, x0);
      }
    }
    return { nq, k, indices, scores };
  }

  save(dir: string): void {
    const meta: ExactMeta = { format: FORMAT, version: 1, dim: this.dim, size: this.count };
    const v = this.vectors;
    replaceDirAtomic(dir, (tmp) => {
      fs.writeFileSync(path.join(tmp, 'vectors.f32'), new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      fs.writeFileSync(path.join(tmp, 'ids.json'), JSON.stringify(this.idList));
      fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
    });
  }

  static load(dir: string, opts: ExactIndexOptions = {}): ExactIndex {
    const meta = readMeta(path.join(dir, 'meta.json'));
    const ids = readIds(path.join(dir, 'ids.json'), meta.size);
    const vectors = readF32(path.join(dir, 'vectors.f32'), meta.size * meta.dim);
    const index = new ExactIndex(meta.dim, opts);
    checkAdd(ids, vectors, meta.dim, index.idSet);
    index.append(ids, vectors);
    return index;
  }

  async dispose(): Promise<void> {
    if (this.runner) await (await this.runner).release();
    this.runner = null;
  }
}

/**
 * Merges a chunk's sorted top-kk (indices relative to the chunk, offset by `base`) into a
 * running sorted top-k. Chunk entries have higher insertion indices, so on equal scores the
 * running entries stay first.
 */
function mergeTopk(
  idx: Int32Array,
  sc: Float32Array,
  at: number,
  k: number,
  newIdx: BigInt64Array,
  newSc: Float32Array,
  from: number,
  kk: number,
  base: number,
): void {
  const oldIdx = idx.slice(at, at + k);
  const oldSc = sc.slice(at, at + k);
  let a = 0;
  let b = 0;
  for (let j = 0; j < k; j++) {
    const takeNew = b < kk && (a >= k || oldIdx[a] < 0 || newSc[from + b] > oldSc[a]);
    if (takeNew) {
      idx[at + j] = Number(newIdx[from + b]) + base;
      sc[at + j] = newSc[from + b];
      b++;
    } else {
      idx[at + j] = oldIdx[a];
      sc[at + j] = oldSc[a];
      a++;
    }
  }
}

function readMeta(file: string): ExactMeta {
  if (!fs.existsSync(file)) throw new Error(`${file}: missing (not an exact index directory)`);
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ExactMeta>;
  if (m.format !== FORMAT || m.version !== 1 || !Number.isInteger(m.dim) || !Number.isInteger(m.size)) {
    throw new Error(`${file}: not a ${FORMAT} v1 meta file`);
  }
  return m as ExactMeta;
}

export function readIds(file: string, expected: number): string[] {
  const ids = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  if (!Array.isArray(ids) || !ids.every((s) => typeof s === 'string')) throw new Error(`${file}: expected a JSON array of string ids`);
  if (ids.length !== expected) throw new Error(`${file}: ${ids.length} ids, expected ${expected}`);
  return ids as string[];
}

export function readF32(file: string, expectedFloats: number): Float32Array {
  const buf = fs.readFileSync(file);
  if (buf.byteLength !== expectedFloats * 4) {
    throw new Error(`${file}: ${buf.byteLength} bytes, expected ${expectedFloats * 4} (${expectedFloats} float32)`);
  }
  const out = new Float32Array(expectedFloats);
  new Uint8Array(out.buffer).set(buf);
  return out;
}
