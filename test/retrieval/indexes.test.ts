/**
 * Exact and HNSW indexes: ties, persistence, bad input, HNSW recall against exact.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ExactIndex } from '../../lib/retrieval/exact-index';
import { HnswIndex, recallAgainst } from '../../lib/retrieval/hnsw-index';
import { l2Normalize, neighbourIds } from '../../lib/retrieval/vector-index';
import { gaussian } from '../../lib/util/random';

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-index-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('exact: equal scores rank by lower insertion index, across chunk boundaries too', async () => {
  const dim = 8;
  const v = gaussian(dim, 1);
  const other = gaussian(dim, 2);
  // rows 0..9: copies of v at 2, 5, 7 (and 9 scaled: same direction), the rest other directions
  const rows: Float32Array[] = [];
  for (let i = 0; i < 10; i++) rows.push([2, 5, 7].includes(i) ? v : i === 9 ? v.map((x) => x * 3) : gaussian(dim, 10 + i));
  const data = new Float32Array(10 * dim);
  rows.forEach((r, i) => data.set(r, i * dim));
  for (const chunkRows of [65536, 3, 1]) {
    const index = new ExactIndex(dim, { chunkRows });
    index.add(rows.map((_, i) => `r${i}`), data);
    const res = await index.search(Float32Array.from([...v, ...other]), 4);
    expect(neighbourIds(res, index.ids)[0]).toEqual(['r2', 'r5', 'r7', 'r9']);
    expect(res.scores[0]).toBeCloseTo(1, 6);
    await index.dispose();
  }
});

test('exact: k above the index size pads with -1; results match a brute-force float64 check', async () => {
  const dim = 5;
  const index = new ExactIndex(dim);
  const data = gaussian(6 * dim, 3);
  index.add(['a', 'b', 'c', 'd', 'e', 'f'], data);
  const q = gaussian(2 * dim, 4);
  const res = await index.search(q, 8);
  expect(Array.from(res.indices.subarray(6, 8))).toEqual([-1, -1]);
  const unit = l2Normalize(data, dim);
  const qu = l2Normalize(q, dim);
  const dots = [0, 1, 2, 3, 4, 5].map((i) => [0, 1, 2, 3, 4].reduce((s, j) => s + qu[dim + j] * unit[i * dim + j], 0));
  const order = [0, 1, 2, 3, 4, 5].sort((a, b) => dots[b] - dots[a]);
  expect(Array.from(res.indices.subarray(8, 14))).toEqual(order);
  order.forEach((i, j) => expect(res.scores[8 + j]).toBeCloseTo(dots[i], 5));
  await index.dispose();
});

test('exact: save/load round-trip, atomic replace, and clear errors', async () => {
  const dim = 16;
  const index = new ExactIndex(dim);
  index.add(Array.from({ length: 300 }, (_, i) => `id/${i}`), gaussian(300 * dim, 5));
  const dir = path.join(tmp, 'exact');
  index.save(dir);
  index.add(['late'], gaussian(dim, 6));
  index.save(dir); // replaces the first copy
  const back = ExactIndex.load(dir);
  expect(back.size).toBe(301);
  expect(back.ids[300]).toBe('late');
  expect(Array.from(back.vectors)).toEqual(Array.from(index.vectors));
  expect(fs.readdirSync(tmp).filter((f) => f.startsWith('exact'))).toEqual(['exact']);
  const q = gaussian(3 * dim, 7);
  expect(Array.from((await back.search(q, 5)).indices)).toEqual(Array.from((await index.search(q, 5)).indices));
  await Promise.all([index.dispose(), back.dispose()]);

  expect(() => index.add(['id/3'], gaussian(dim, 8))).toThrow(/id "id\/3" is already in the index/);
  expect(() => index.add(['x', 'y'], gaussian(dim, 8))).toThrow(/2 ids but 1 vectors/);
  fs.truncateSync(path.join(dir, 'vectors.f32'), 100);
  expect(() => ExactIndex.load(dir)).toThrow(/vectors\.f32: 100 bytes, expected 19264/);
  expect(() => ExactIndex.load(path.join(tmp, 'nowhere'))).toThrow(/meta\.json: missing/);
});

test('hnsw: recall@10 against exact >= 0.95 on clustered data; persisted index answers the same', async () => {
  const dim = 32;
  const n = 3000;
  const centres = gaussian(60 * dim, 9);
  const noise = gaussian(n * dim, 10);
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) data[i * dim + j] = centres[(i % 60) * dim + j] + 0.4 * noise[i * dim + j];
  const ids = Array.from({ length: n }, (_, i) => `p${i}`);
  const hnsw = new HnswIndex(dim, { capacity: 100 }); // grows by resizing
  hnsw.add(ids.slice(0, 1000), data.subarray(0, 1000 * dim));
  hnsw.add(ids.slice(1000), data.subarray(1000 * dim));
  const exact = new ExactIndex(dim);
  exact.add(ids, data);
  const q = gaussian(200 * dim, 11).map((x, i) => centres[(Math.floor(i / dim) % 60) * dim + (i % dim)] + 0.4 * x);
  const [a, e] = [await hnsw.search(q, 10), await exact.search(q, 10)];
  const recall = recallAgainst(a, e);
  expect(recall).toBeGreaterThanOrEqual(0.95);
  expect(recall).toBeLessThanOrEqual(1);
  // scores are true inner products, sorted
  for (let j = 1; j < 10; j++) expect(a.scores[j]).toBeLessThanOrEqual(a.scores[j - 1]);

  const dir = path.join(tmp, 'hnsw');
  hnsw.save(dir);
  const back = HnswIndex.load(dir);
  expect(back.size).toBe(n);
  expect(back.ids).toEqual(ids);
  expect(Array.from((await back.search(q, 10)).indices)).toEqual(Array.from(a.indices));
  await exact.dispose();
  fs.writeFileSync(path.join(dir, 'ids.json'), '["p0"]');
  expect(() => HnswIndex.load(dir)).toThrow(/ids\.json: 1 ids, expected 3000/);
});
