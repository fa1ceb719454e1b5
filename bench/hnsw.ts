/**
 * HNSW (hnswlib-node) at scale: build rate, queries/s and recall@5 against the exact index, for a
 * sweep of efSearch. Data: unit 64-d vectors in many small clusters (instance-level retrieval:
 * a few images per object), queries drawn near cluster centres.
 *
 *   node dist/bench/hnsw.js [--n 1000000] [--queries 1000] [--m 16] [--ef-construction 100]
 */
import * as os from 'os';
import { ExactIndex } from '../lib/retrieval/exact-index';
import { HnswIndex, recallAgainst } from '../lib/retrieval/hnsw-index';
import { arg } from './common';
import { gaussian } from '../lib/util/random';


/** n points around n/perCluster random centres, noise scale `spread`. */
function clustered(n: number, dim: number, perCluster: number, spread: number, seed: number, centres: Float32Array): Float32Array {
  const z = gaussian(n * dim, seed);
  const nc = centres.length / dim;
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / perCluster) % nc;
    for (let j = 0; j < dim; j++) z[i * dim + j] = centres[c * dim + j] + spread * z[i * dim + j];
  }
  return z;
}

async function main(): Promise<void> {
  const n = arg('n', 1_000_000);
  const nq = arg('queries', 1000);
  const m = arg('m', 16);
  const efConstruction = arg('ef-construction', 100);
  const dim = 64;
  const perCluster = 8;
  console.log(`hnsw: ${n} x ${dim}-d (clusters of ${perCluster}), ${nq} queries, M=${m}, efConstruction=${efConstruction}; ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
  const centres = gaussian(Math.ceil(n / perCluster) * dim, 1);
  const data = clustered(n, dim, perCluster, 1, 2, centres);
  // queries: near random clusters, strided so they hit all of the index
  const qCentres = new Float32Array(nq * dim);
  for (let i = 0; i < nq; i++) qCentres.set(centres.subarray(((i * 7919) % (n / perCluster)) * dim, (((i * 7919) % (n / perCluster)) + 1) * dim), i * dim);
  const queries = clustered(nq, dim, 1, 1, 3, qCentres);
  const ids = Array.from({ length: n }, (_, i) => String(i));

  const hnsw = new HnswIndex(dim, { m, efConstruction, capacity: n });
  let t = Date.now();
  hnsw.add(ids, data, (done) => {
    if (done % 100000 === 0) console.log(`  built ${done} (${((done * 1000) / (Date.now() - t)).toFixed(0)} inserts/s)`);
  });
  const buildS = (Date.now() - t) / 1000;
  console.log(`build: ${buildS.toFixed(1)} s, ${(n / buildS).toFixed(0)} inserts/s (hnswlib-node adds on one thread)`);

  const exact = new ExactIndex(dim);
  exact.add(ids, data);
  await exact.search(queries.subarray(0, 10 * dim), 5);
  t = Date.now();
  const truth = await exact.search(queries, 5);
  const exactQps = nq / ((Date.now() - t) / 1000);
  console.log(`exact (onnxruntime, batched): ${exactQps.toFixed(0)} queries/s`);
  await exact.dispose();

  for (const ef of [16, 32, 64, 128, 256]) {
    hnsw.setEfSearch(ef);
    t = Date.now();
    const res = await hnsw.search(queries, 5);
    const qps = nq / ((Date.now() - t) / 1000);
    console.log(`efSearch ${String(ef).padStart(3)}: ${qps.toFixed(0).padStart(6)} queries/s, recall@5 vs exact ${recallAgainst(res, truth).toFixed(4)}, speed ratio vs exact ${(qps / exactQps).toFixed(2)}x`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
