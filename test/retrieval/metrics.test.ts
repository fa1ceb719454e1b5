/** Metric rules worked by hand, and the solution CSV reader. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { calibratedPrecision, meanAveragePrecision, meanRecall, MetricError, retrievalMetrics } from '../../lib/retrieval/metrics';
import { formatSolutionCsv, parseSolutionCsv, readSolutionCsv, splitCsvLine } from '../../lib/retrieval/solution';

const m = <T>(o: Record<string, T>) => new Map(Object.entries(o));

test('mP@5 by hand: window of min(n,5), repeats use a slot, missing queries score 0', () => {
  const sol = m({ a: ['x', 'y'], b: ['x', 'y', 'z', 'u', 'v', 'w', 't'], c: ['x'], d: ['q'] });
  const pred = m({
    a: ['y', 'y', 'x'], // window 2: y hit, y repeat -> 1/2
    b: ['x', 'n', 'y', 'z', 'x', 'u'], // window 5: x, y, z hit; repeat x at 5 -> 3/5
    c: ['n', 'x'], // window 1: miss -> 0
    // d missing -> 0
  });
  expect(calibratedPrecision(pred, sol)).toBeCloseTo((0.5 + 0.6 + 0 + 0) / 4, 15);
  expect(calibratedPrecision(pred, sol, 5, new Set(['a', 'b']))).toBeCloseTo((0.5 + 0.6) / 2, 15);
  // AP@100 of a: hits y@1 (1/1), x@3 (2/3); /min(2,100)
  expect(meanAveragePrecision(m({ a: ['y', 'y', 'x'] }), m({ a: ['x', 'y'] }))).toBeCloseTo((1 + 2 / 3) / 2, 15);
  expect(meanRecall(m({ a: ['y', 'y', 'x'] }), m({ a: ['x', 'y'] }), 2)).toBe(0.5);
  expect(() => calibratedPrecision(m({ zz: ['x'] }), sol)).toThrow(MetricError);
  expect(() => calibratedPrecision(m({ e: ['x'] }), m({ e: [] as string[] }))).toThrow(/has no relevant images/);
});

test('breakdowns by Usage and domain divide by their own solution queries', () => {
  const sol = m({ a: ['x'], b: ['y'], c: ['z'] });
  const rep = retrievalMetrics(m({ a: ['x'], b: ['n'] }), sol, { usage: m({ a: 'Public', b: 'Private', c: 'Private' }), domain: m({ a: 'cars', b: 'cars', c: 'toys' }) }, [1]);
  expect(rep.overall).toEqual({ queries: 3, mP5: 1 / 3, mAP100: 1 / 3, recall: { '1': 1 / 3 } });
  expect(rep.byUsage.Public.mP5).toBe(1);
  expect(rep.byUsage.Private).toMatchObject({ queries: 2, mP5: 0 });
  expect(rep.byDomain.cars).toMatchObject({ queries: 2, mP5: 0.5 });
  expect(rep.byDomain.toys).toMatchObject({ queries: 1, mP5: 0 });
});

test('solution CSV: host layout, quoting, domain column, round-trip, errors name file and line', () => {
  expect(splitCsvLine('a,"b c",""",x"')).toEqual(['a', 'b c', '",x']);
  const sol = parseSolutionCsv('\uFEFFid,images,Usage\r\nq1,i1 i2  i3,Public\r\n"q2",i4,Private\r\n\r\n');
  expect([...sol.relevant]).toEqual([['q1', ['i1', 'i2', 'i3']], ['q2', ['i4']]]);
  expect(sol.usage.get('q2')).toBe('Private');
  const withDomain = parseSolutionCsv('id,images,Usage,domain\nq1,i1,Public,cars\n');
  expect(withDomain.domain.get('q1')).toBe('cars');
  expect(parseSolutionCsv(formatSolutionCsv(withDomain))).toEqual(withDomain);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-sol-'));
  const bad = (name: string, text: string, msg: RegExp) => {
    fs.writeFileSync(path.join(dir, name), text);
    expect(() => readSolutionCsv(path.join(dir, name))).toThrow(msg);
  };
  bad('h.csv', 'query,images\nq,i\n', /h\.csv:1: header must be/);
  bad('e.csv', 'id,images,Usage\nq1,i1,Public\nq2, ,Private\n', /e\.csv:3: query q2 has no relevant images/);
  bad('d.csv', 'id,images,Usage\nq1,i1,Public\nq1,i2,Public\n', /d\.csv:3: query q1 appears twice/);
  bad('f.csv', 'id,images,Usage\nq1,i1\n', /f\.csv:2: expected 3 fields, got 2/);
  fs.rmSync(dir, { recursive: true, force: true });
});
