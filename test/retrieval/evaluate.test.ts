/**
 * Evaluation end to end: embeddings -> index -> predictions -> report; `guie eval` through commander.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Command } from 'commander';
import sharp from 'sharp';
import { register } from '../../lib/retrieval/commands';
import { ColourHistogramEmbedder } from '../../lib/retrieval/colour-histogram';
import { solutionFromIds } from '../../lib/retrieval/folder-truth';
import { Embeddings, folderSource, writeEmbeddings } from '../../lib/retrieval/embed';
import { buildIndex, evalCommand, evaluateEmbeddings, evaluateImages, EvalReport } from '../../lib/retrieval/evaluate';
import { calibratedPrecision } from '../../lib/retrieval/metrics';
import { Solution, writeSolutionCsv } from '../../lib/retrieval/solution';
import { l2Normalize } from '../../lib/retrieval/vector-index';
import { gaussian } from '../../lib/util/random';

const dim = 16;
let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-eval-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** 8 classes; index rows and queries scattered around class centres; noise sets the difficulty. */
function gallery(noise: number): { queries: Embeddings; index: Embeddings; solution: Solution } {
  const centres = gaussian(8 * dim, 1);
  const make = (n: number, prefix: string, seed: number) => {
    const z = gaussian(n * dim, seed);
    const v = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) v[i * dim + j] = centres[(i % 8) * dim + j] + noise * z[i * dim + j];
    return { ids: Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`), vectors: v, dim };
  };
  const index = make(160, 'idx', 2);
  const queries = make(40, 'qry', 3);
  const solution: Solution = { relevant: new Map(), usage: new Map(), domain: new Map() };
  queries.ids.forEach((q, i) => {
    // class c has 20 index images; query i is relevant to only some of them so n_q varies 1..20
    const rel = index.ids.filter((_, r) => r % 8 === i % 8).slice(0, 1 + (i % 7) * 3);
    solution.relevant.set(q, rel);
    solution.usage.set(q, i % 2 ? 'Private' : 'Public');
    solution.domain.set(q, `domain${i % 3}`);
  });
  return { queries, index, solution };
}

/** Float64 brute force, ties by lower index: the reference predictions. */
function bruteForce(q: Embeddings, x: Embeddings, k: number): Map<string, string[]> {
  const qu = l2Normalize(q.vectors, dim);
  const xu = l2Normalize(x.vectors, dim);
  const out = new Map<string, string[]>();
  q.ids.forEach((id, i) => {
    const s = x.ids.map((_, r) => {
      let d = 0;
      for (let j = 0; j < dim; j++) d += qu[i * dim + j] * xu[r * dim + j];
      return d;
    });
    const order = x.ids.map((_, r) => r).sort((a, b) => s[b] - s[a] || a - b);
    out.set(id, order.slice(0, k).map((r) => x.ids[r]));
  });
  return out;
}

test('evaluateEmbeddings equals the metric over brute-force neighbours, for every split and domain', async () => {
  const g = gallery(1.2); // hard enough that scores land strictly between 0 and 1
  for (const kind of ['exact', 'hnsw'] as const) {
    const index = buildIndex(g.index, kind);
    const rep = await evaluateEmbeddings(g.queries, index, g.solution, { k: 20 });
    await index.dispose();
    const ref = bruteForce(g.queries, g.index, 20);
    expect(rep.metrics.overall.mP5).toBeCloseTo(calibratedPrecision(ref, g.solution.relevant), kind === 'exact' ? 12 : 1);
    if (kind === 'exact') {
      expect(rep.metrics.overall.mP5).toBeGreaterThan(0.1);
      expect(rep.metrics.overall.mP5).toBeLessThan(0.95);
      const pub = new Set([...g.solution.usage].filter(([, u]) => u === 'Public').map(([q]) => q));
      expect(rep.metrics.byUsage.Public.mP5).toBeCloseTo(calibratedPrecision(ref, g.solution.relevant, 5, pub), 12);
      const d1 = new Set([...g.solution.domain].filter(([, d]) => d === 'domain1').map(([q]) => q));
      expect(rep.metrics.byDomain.domain1.mP5).toBeCloseTo(calibratedPrecision(ref, g.solution.relevant, 5, d1), 12);
      expect(Object.keys(rep.metrics.overall.recall)).toEqual(['1', '5', '10']);
    }
  }
});

test('extra queries: an error as on the host, or ignored on request', async () => {
  const g = gallery(0.1);
  g.solution.relevant.delete('qry0039');
  const index = buildIndex(g.index);
  await expect(evaluateEmbeddings(g.queries, index, g.solution)).rejects.toThrow(/1 query embeddings are not in the solution \(first: "qry0039"\)/);
  const rep = await evaluateEmbeddings(g.queries, index, g.solution, { extraQueries: 'ignore' });
  expect(rep.queries).toEqual({ embedded: 40, inSolution: 39, ignored: 1 });
  const ref = bruteForce(g.queries, g.index, 100);
  ref.delete('qry0039');
  expect(rep.metrics.overall.mP5).toBeCloseTo(calibratedPrecision(ref, g.solution.relevant), 12);
  expect(rep.metrics.overall.recall['100']).toBe(1); // tiny noise: each class fills its query's top ranks
  await index.dispose();
});

test('guie eval through commander prints the summary and writes the JSON report', async () => {
  const g = gallery(1.2);
  writeEmbeddings(path.join(tmp, 'q'), g.queries);
  writeEmbeddings(path.join(tmp, 'x'), g.index);
  writeSolutionCsv(path.join(tmp, 'solution.csv'), g.solution);
  const program = new Command().exitOverride();
  register(program, async () => { throw new Error('no model in this test'); }, () => path.join(tmp, 'unused'));
  const logs: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((s: string) => void logs.push(s));
  try {
    const out = path.join(tmp, 'report.json');
    await program.parseAsync(['eval', '--queries', path.join(tmp, 'q'), '--index', path.join(tmp, 'x'), '--solution', path.join(tmp, 'solution.csv'), '--out', out, '-k', '20'], { from: 'user' });
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as EvalReport;
    const ref = bruteForce(g.queries, g.index, 20);
    expect(report.metrics.overall.mP5).toBeCloseTo(calibratedPrecision(ref, g.solution.relevant), 12);
    expect(logs[0]).toMatch(new RegExp(`^mP@5 overall ${report.metrics.overall.mP5.toFixed(4)}  Public \\d\\.\\d{4}  Private \\d\\.\\d{4}`));
    expect(logs[0]).toContain('domain:domain2');
    // a saved HNSW index is accepted in place of embeddings
    await program.parseAsync(['index', path.join(tmp, 'x'), path.join(tmp, 'hnsw'), '--kind', 'hnsw'], { from: 'user' });
    await program.parseAsync(['eval', '--queries', path.join(tmp, 'q'), '--index', path.join(tmp, 'hnsw'), '--solution', path.join(tmp, 'solution.csv'), '-k', '20'], { from: 'user' });
    expect(logs.some((l) => l.includes('hnsw index of 160 x 16'))).toBe(true);
  } finally {
    spy.mockRestore();
  }
});

test('evaluateImages: folders of images + the colour-histogram embedder', async () => {
  // 4 colours; each query should find the index images of its own colour.
  const colours = [[220, 30, 30], [30, 200, 40], [20, 40, 210], [230, 220, 30]];
  const solution: Solution = { relevant: new Map(), usage: new Map(), domain: new Map() };
  for (const [c, rgb] of colours.entries()) {
    for (let i = 0; i < 3; i++) {
      const jitter = (v: number) => Math.max(0, Math.min(255, v + (i - 1) * 8));
      const png = await sharp({ create: { width: 20 + i, height: 10, channels: 3, background: { r: jitter(rgb[0]), g: jitter(rgb[1]), b: jitter(rgb[2]) } } }).png().toBuffer();
      fs.mkdirSync(path.join(tmp, 'img', 'index'), { recursive: true });
      fs.writeFileSync(path.join(tmp, 'img', 'index', `c${c}-${i}.png`), png);
    }
    const q = await sharp({ create: { width: 12, height: 12, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
    fs.mkdirSync(path.join(tmp, 'img', 'query'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'img', 'query', `q${c}.png`), q);
    solution.relevant.set(`q${c}.png`, [0, 1, 2].map((i) => `c${c}-${i}.png`));
    solution.usage.set(`q${c}.png`, 'Public');
  }
  const rep = await evaluateImages(new ColourHistogramEmbedder(), folderSource(path.join(tmp, 'img', 'query')), folderSource(path.join(tmp, 'img', 'index')), solution, path.join(tmp, 'work'), { k: 5 });
  expect(rep.metrics.overall).toMatchObject({ queries: 4, mP5: 1 });
  expect(rep.index.size).toBe(12);

  // the same through the CLI: `guie embed` for the index, `guie eval --model` embeds the query folder itself
  const program = new Command().exitOverride();
  const loaded: string[] = [];
  const work = path.join(tmp, 'eval-work');
  register(
    program,
    async (model) => {
      loaded.push(model);
      return { embedder: new ColourHistogramEmbedder(), fingerprint: `hist:${model}`, description: model };
    },
    () => work,
  );
  const solutionCsv = path.join(tmp, 'img', 'solution.csv');
  writeSolutionCsv(solutionCsv, solution);
  const logs: string[] = [];
  const spy = jest.spyOn(console, 'log').mockImplementation((s: string) => void logs.push(s));
  try {
    await program.parseAsync(['embed', path.join(tmp, 'img', 'index'), '--model', 'hist', '--out', path.join(tmp, 'cli-index'), '--batch', '5', '--progress', 'silent'], { from: 'user' });
    expect(logs.pop()).toMatch(/^12 images -> .*cli-index \(hist, 64-d\)$/);
    const out = path.join(tmp, 'img', 'report.json');
    await program.parseAsync(['eval', '--model', 'hist', '--queries', path.join(tmp, 'img', 'query'), '--index', path.join(tmp, 'cli-index'), '--solution', solutionCsv, '--out', out, '-k', '5'], { from: 'user' });
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as EvalReport & { inputs: { model: string } };
    expect(report.metrics.overall.mP5).toBe(1);
    expect(report.inputs.model).toBe('colour-histogram-4');
    expect(loaded).toEqual(['hist', 'hist']);
    const cached = fs.readdirSync(work).flatMap((m) => fs.readdirSync(path.join(work, m)));
    expect(cached).toHaveLength(1);
    expect(cached[0]).toMatch(/^queries-[0-9a-f]{12}-[0-9a-f]{12}$/);
  } finally {
    spy.mockRestore();
  }
});

test('ground truth from class folders: same folder = relevant, groups from the top folder, unmatched queries left out', async () => {
  const { solution, unmatched } = solutionFromIds(['a/cat/q1.jpg', 'a/dog/q2.jpg', 'b/eel/q3.jpg', 'b/owl/q4.jpg'], ['a/cat/1.jpg', 'a/cat/2.jpg', 'a/dog/3.jpg', 'b/eel/4.jpg', 'b/yak/5.jpg']);
  expect([...solution.relevant]).toEqual([['a/cat/q1.jpg', ['a/cat/1.jpg', 'a/cat/2.jpg']], ['a/dog/q2.jpg', ['a/dog/3.jpg']], ['b/eel/q3.jpg', ['b/eel/4.jpg']]]);
  expect([...solution.domain.values()]).toEqual(['a', 'a', 'b']);
  expect(unmatched).toEqual(['b/owl/q4.jpg']);
  // flat <class>/<image>: each class is its own group
  expect([...solutionFromIds(['cat/q.jpg'], ['cat/1.jpg']).solution.domain.values()]).toEqual(['cat']);
  expect(() => solutionFromIds(['q.jpg'], ['cat/1.jpg'])).toThrow(/"q.jpg" is not inside a class folder/);
  expect(() => solutionFromIds(['cat/q.jpg'], ['dog/1.jpg'])).toThrow(/no query class folder has a match/);

  // through `guie eval` without --solution: embeddings whose ids are class-folder paths
  const vec = (i: number) => Float32Array.from({ length: 4 }, (_, k) => (k === i ? 1 : 0));
  const emb = (ids: string[], dims: number[]) => ({ ids, dim: 4, vectors: Float32Array.from(dims.flatMap((d) => [...vec(d)])) });
  writeEmbeddings(path.join(tmp, 'fq'), emb(['g/cat/q.jpg', 'g/dog/q.jpg', 'g/owl/q.jpg'], [1, 0, 2]));
  writeEmbeddings(path.join(tmp, 'fi'), emb(['g/cat/1.jpg', 'g/dog/2.jpg', 'g/dog/3.jpg'], [0, 1, 1]));
  const logs: string[] = [];
  const rep = await evalCommand({ queries: path.join(tmp, 'fq'), index: path.join(tmp, 'fi'), k: 3 }, (l) => logs.push(l));
  expect(rep.queries).toEqual({ embedded: 3, inSolution: 2, ignored: 1 });
  // cat's query points at the dogs (P@1 = 0); dog's at the cat, then the two dogs (P@2 = 1/2): mP@5 0.25 over the 2 matched queries
  expect(rep.metrics.overall).toMatchObject({ queries: 2, mP5: 0.25 });
  expect(Object.keys(rep.metrics.byDomain)).toEqual(['g']);
  expect(logs[0]).toMatch(/^1 queries have no class folder in the index and are left out \(first: g\/owl\/q.jpg\)/);
});
