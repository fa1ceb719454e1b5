/**
 * mP@5 / mAP@100 / recall@k against test/oracle/retrieval_metrics.py, an independent Python
 * implementation of the host's CalibratedPrecision rules. Tolerance 1e-12 (both sum float64
 * in the same order of magnitude; any rule difference moves a score by >= 1/(5*Q)).
 */
import * as path from 'path';
import { runPythonJson } from './python';
import { MetricError, MetricsReport, retrievalMetrics } from '../../lib/retrieval/metrics';
import { Rng } from '../../lib/util/random';

interface Case {
  predictions: Record<string, string[]>;
  solution: Record<string, string[]>;
  usage: Record<string, string>;
}
type PyResult = { error: string } | { overall: MetricsReport['overall']; splits: Record<string, MetricsReport['overall']> };

function randomCase(r: Rng, allowErrors: boolean): Case {
  const pool = Array.from({ length: 4 + Math.floor(r.float() * 30) }, (_, i) => `img${i}`);
  const pick = () => pool[Math.floor(r.float() * pool.length)];
  const nQueries = 1 + Math.floor(r.float() * 12);
  const c: Case = { predictions: {}, solution: {}, usage: {} };
  for (let q = 0; q < nQueries; q++) {
    const id = `q${q}`;
    const nRel = Math.min(pool.length, 1 + Math.floor(r.float() * 7)); // n_q from 1 to 7
    c.solution[id] = [...new Set(Array.from({ length: nRel * 2 }, pick))].slice(0, nRel);
    c.usage[id] = r.float() < 0.5 ? 'Public' : 'Private';
    const u = r.float();
    if (u < 0.15) continue; // missing query: scores 0
    const len = u < 0.25 ? 0 : 1 + Math.floor(r.float() * 12); // empty prediction lists too
    const rel = c.solution[id];
    // Bias towards hits and repeats so duplicates land inside the scored window.
    const pred: string[] = [];
    for (let j = 0; j < len; j++) {
      const v = r.float();
      pred.push(v < 0.35 ? rel[Math.floor(r.float() * rel.length)] : v < 0.55 && pred.length > 0 ? pred[pred.length - 1] : pick());
    }
    c.predictions[id] = pred;
  }
  if (allowErrors && r.float() < 0.3) c.predictions[`extra${Math.floor(r.float() * 3)}`] = [pick()]; // extra query: host raises
  if (allowErrors && r.float() < 0.1) {
    c.solution['empty'] = [];
    c.predictions['empty'] = [pick()]; // predicted query with zero relevant images: host raises
  }
  return c;
}

const adversarial: Case[] = [
  // duplicate of a hit inside the window uses up its slot (n_q=2: [a,a,b] scores 1/2, not 1)
  { predictions: { q: ['a', 'a', 'b'] }, solution: { q: ['a', 'b'] }, usage: { q: 'Public' } },
  // n_q=1: only the top-1 counts
  { predictions: { q: ['x', 'a'] }, solution: { q: ['a'] }, usage: { q: 'Private' } },
  // n_q=7 > 5: divide by 5, read 5 positions
  { predictions: { q: ['a', 'b', 'c', 'd', 'e', 'f'] }, solution: { q: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] }, usage: { q: 'Public' } },
  // missing and empty predictions
  { predictions: { q1: [] }, solution: { q1: ['a'], q2: ['b'] }, usage: { q1: 'Public', q2: 'Private' } },
  // solution query with no relevant images and no prediction: the host does not check it
  { predictions: { q1: ['a'] }, solution: { q1: ['a'], q2: [] }, usage: { q1: 'Public', q2: 'Public' } },
  // errors
  { predictions: { q1: ['a'], zz: ['a'] }, solution: { q1: ['a'] }, usage: { q1: 'Public' } },
  { predictions: { q1: ['a'] }, solution: { q1: [] }, usage: { q1: 'Public' } },
];

function tsScore(c: Case): PyResult {
  const sol = new Map(Object.entries(c.solution));
  try {
    const rep = retrievalMetrics(new Map(Object.entries(c.predictions)), sol, { usage: new Map(Object.entries(c.usage)) });
    return { overall: rep.overall, splits: rep.byUsage };
  } catch (e) {
    if (e instanceof MetricError) return { error: e.message };
    throw e;
  }
}

function expectClose(ts: PyResult, py: PyResult, label: string): void {
  if ('error' in py || 'error' in ts) {
    expect({ label, ts: 'error' in ts ? ts.error : 'no error' }).toEqual({ label, ts: 'error' in py ? py.error : 'no error' });
    return;
  }
  const flat = (r: Exclude<PyResult, { error: string }>) => {
    const out: Record<string, number> = {};
    const add = (p: string, m: MetricsReport['overall']) => {
      out[`${p}.queries`] = m.queries;
      out[`${p}.mP5`] = m.mP5;
      out[`${p}.mAP100`] = m.mAP100;
      for (const [k, v] of Object.entries(m.recall)) out[`${p}.recall${k}`] = v;
    };
    add('overall', r.overall);
    for (const [s, m] of Object.entries(r.splits)) add(s, m);
    return out;
  };
  const a = flat(ts);
  const b = flat(py);
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const key of Object.keys(b)) {
    if (Math.abs(a[key] - b[key]) > 1e-12) throw new Error(`${label} ${key}: ts ${a[key]} python ${b[key]}`);
  }
}

test('host metric: TS equals the independent Python oracle on 400 random + adversarial cases', () => {
  const r = new Rng(5);
  const cases = [...adversarial, ...Array.from({ length: 400 }, (_, i) => randomCase(r, i % 2 === 0))];
  const py = runPythonJson<PyResult[]>(path.join(__dirname, 'retrieval_metrics.py'), [], JSON.stringify(cases));
  expect(py).toHaveLength(cases.length);
  const errors = py.filter((p) => 'error' in p).length;
  expect(errors).toBeGreaterThan(20); // the error paths were really exercised
  expect(errors).toBeLessThan(cases.length - 200);
  cases.forEach((c, i) => expectClose(tsScore(c), py[i], `case ${i}`));
  // Spot values from the definition, so the oracle cannot agree on a wrong rule with us.
  expect((py[0] as { overall: { mP5: number } }).overall.mP5).toBe(0.5);
  expect((py[1] as { overall: { mP5: number } }).overall.mP5).toBe(0);
  expect((py[2] as { overall: { mP5: number } }).overall.mP5).toBe(1);
  expect((py[3] as { overall: { mP5: number } }).overall.mP5).toBe(0);
  expect((py[4] as { overall: { mP5: number } }).overall.mP5).toBe(0.5);
});
