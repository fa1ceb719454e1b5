/**
 * GUIE-scale exact search: 5,000 queries x 200,000 index vectors x 64 dims, top-k by inner
 * product. ExactIndex (ONNX Runtime Gemm+TopK) against FAISS IndexFlatIP on the same data and
 * machine, plus tfjs-wasm matMul+topk (the other JS route) on a query subset.
 *
 *   node dist/bench/exact-search.js [--queries 5000] [--index 200000] [--k 5] [--wasm-queries 100]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { ExactIndex } from '../lib/retrieval/exact-index';
import { l2Normalize } from '../lib/retrieval/vector-index';
import { PROJECT_ROOT } from '../lib/util/paths';
import { arg } from './common';
import { gaussian } from '../lib/util/random';


async function timeBest(runs: number, f: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t = process.hrtime.bigint();
    await f();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return best;
}

/** tfjs route: the same blocked product + topk, on the wasm backend. */
async function tfjsSearch(q: Float32Array, nq: number, x: Float32Array, n: number, dim: number, k: number, chunk: number): Promise<void> {
  const xs: tf.Tensor2D[] = [];
  for (let x0 = 0; x0 < n; x0 += chunk) xs.push(tf.tensor2d(x.subarray(x0 * dim, Math.min(n, x0 + chunk) * dim), [Math.min(chunk, n - x0), dim]));
  const qt = tf.tensor2d(q.subarray(0, nq * dim), [nq, dim]);
  for (const xt of xs) {
    const { values, indices } = tf.tidy(() => tf.topk(tf.matMul(qt, xt, false, true), k));
    await values.data();
    tf.dispose([values, indices]);
  }
  tf.dispose([qt, ...xs]);
}

async function main(): Promise<void> {
  const nq = arg('queries', 5000);
  const n = arg('index', 200000);
  const dim = 64;
  const k = arg('k', 5);
  const wasmQueries = arg('wasm-queries', 100);
  console.log(`exact search: ${nq} queries x ${n} index x ${dim}-d, top-${k}; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg()[0].toFixed(1)}`);
  const base = l2Normalize(gaussian(n * dim, 1), dim);
  const queries = l2Normalize(gaussian(nq * dim, 2), dim);

  // Best of 1 thread and all threads, as for FAISS: on a loaded shared machine either can win.
  const ortByThreads: Record<string, number> = {};
  let res: { indices: Int32Array } = { indices: new Int32Array(0) };
  for (const threads of [1, 0]) {
    const index = new ExactIndex(dim, { threads });
    index.add(Array.from({ length: n }, (_, i) => String(i)), base);
    await index.search(queries.subarray(0, 100 * dim), k); // session warm-up
    ortByThreads[threads === 0 ? String(os.cpus().length) : '1'] = await timeBest(1, async () => (res = await index.search(queries, k)));
    await index.dispose();
  }
  const ortSeconds = Math.min(...Object.values(ortByThreads));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-bench-'));
  const f = (name: string, a: Float32Array) => fs.writeFileSync(path.join(dir, name), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  f('base.f32', base);
  f('q.f32', queries);
  const py = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');
  const out = execFileSync(py, [path.join(PROJECT_ROOT, 'bench', 'retrieval_faiss_flat.py'), path.join(dir, 'base.f32'), path.join(dir, 'q.f32'), String(dim), String(k), path.join(dir, 'ids.i64')], { encoding: 'utf8' });
  const faiss = JSON.parse(out.trim().split('\n').pop()!) as { seconds: number; threads: number; byThreads: Record<string, number> };
  const faissIds = new BigInt64Array(new Uint8Array(fs.readFileSync(path.join(dir, 'ids.i64'))).buffer);
  let same = 0;
  for (let i = 0; i < nq * k; i++) if (BigInt(res.indices[i]) === faissIds[i]) same++;
  fs.rmSync(dir, { recursive: true, force: true });

  await tf.setBackend('wasm');
  await tfjsSearch(queries, Math.min(50, nq), base, n, dim, k, 65536); // warm-up
  const wasmSeconds = (await timeBest(1, () => tfjsSearch(queries, wasmQueries, base, n, dim, k, 65536))) * (nq / wasmQueries);

  const gflop = (2 * nq * n * dim) / 1e9;
  const fmt = (r: Record<string, number>) => Object.entries(r).map(([t, s]) => `${t} thread(s) ${s.toFixed(3)} s`).join(', ');
  console.log(`ExactIndex (onnxruntime-node): best ${ortSeconds.toFixed(3)} s (${(gflop / ortSeconds).toFixed(0)} GFLOP/s of products); ${fmt(ortByThreads)}`);
  console.log(`FAISS IndexFlatIP: best ${faiss.seconds.toFixed(3)} s; ${fmt(faiss.byThreads)}`);
  console.log(`tfjs wasm matMul+topk: ${wasmSeconds.toFixed(3)} s (measured on ${wasmQueries} queries, scaled to ${nq})`);
  console.log(`same top-${k} ids as FAISS: ${((100 * same) / (nq * k)).toFixed(3)}%`);
  console.log(`speed ratio ExactIndex / FAISS = ${(faiss.seconds / ortSeconds).toFixed(2)}x (goal >= 0.8x); ExactIndex / tfjs-wasm = ${(wasmSeconds / ortSeconds).toFixed(1)}x`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
