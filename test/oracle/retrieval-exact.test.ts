/**
 * ExactIndex top-k against FAISS IndexFlatIP (faiss-cpu, test/oracle/retrieval_faiss.py) on
 * random unit vectors: same ids in the same order (random floats have no ties), scores within
 * 1e-5 (float32 dot products of 64 terms summed in a different order).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runPythonJson } from './python';
import { ExactIndex } from '../../lib/retrieval/exact-index';
import { l2Normalize } from '../../lib/retrieval/vector-index';
import { gaussian } from '../../lib/util/random';

const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

test.each([
  { name: 'one chunk', n: 3000, nq: 40, dim: 64, k: 10, opts: {} },
  { name: 'many chunks and query blocks', n: 2500, nq: 37, dim: 64, k: 7, opts: { chunkRows: 300, maxScoreBytes: 300 * 4 * 8 } },
  { name: 'k larger than a chunk', n: 500, nq: 5, dim: 16, k: 50, opts: { chunkRows: 32 } },
])('exact top-k equals FAISS IndexFlatIP: $name', async ({ n, nq, dim, k, opts }) => {
  const base = l2Normalize(gaussian(n * dim, n), dim);
  const queries = l2Normalize(gaussian(nq * dim, 7 + nq), dim);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-faiss-'));
  fs.writeFileSync(path.join(dir, 'base.f32'), bytes(base));
  fs.writeFileSync(path.join(dir, 'q.f32'), bytes(queries));
  const ref = runPythonJson<{ indices: number[][]; scores: number[][] }>(path.join(__dirname, 'retrieval_faiss.py'), [
    path.join(dir, 'base.f32'),
    path.join(dir, 'q.f32'),
    String(dim),
    String(k),
  ]);

  const index = new ExactIndex(dim, opts);
  index.add(Array.from({ length: n }, (_, i) => `id-${i}`), base);
  const res = await index.search(queries, k);
  await index.dispose();
  let maxErr = 0;
  for (let q = 0; q < nq; q++) {
    expect(Array.from(res.indices.subarray(q * k, (q + 1) * k))).toEqual(ref.indices[q]);
    for (let j = 0; j < k; j++) maxErr = Math.max(maxErr, Math.abs(res.scores[q * k + j] - ref.scores[q][j]));
  }
  expect(maxErr).toBeLessThan(1e-5);
  fs.rmSync(dir, { recursive: true, force: true });
});
