/** Splits of a data set's rows: by class, by image within a class, by record file; seeded, disjoint, with named errors. */
import type { DataSet, RecordRow } from '../../lib/data/dataset';
import { splitDataSet, type SplitOptions } from '../../lib/data/split';

/** `classes` classes of `per` images each, spread over `files` record files (no image bytes needed: splits read rows only). */
function dataSet(classes: number, per: number, files = 1): DataSet {
  const rows: RecordRow[] = [];
  for (let c = 0; c < classes; c++) for (let i = 0; i < per; i++) rows.push({ id: `c${c}/img${i}`, label: c, source: 'mine', file: (c * per + i) % files, record: rows.length });
  return {
    origin: 'folder', input: '/photos', recordsDir: '/photos-records', files: Array.from({ length: files }, (_, i) => `/r/shard-${i}.tfrec`),
    schema: { image: 'image/encoded', label: 'image/class/label' }, fingerprint: 'sha256:x', rows, skipped: [],
    classNames: new Map(Array.from({ length: classes }, (_, c) => [c, `class ${c}`])), summary: '',
  };
}
const opts = (o: Partial<SplitOptions> = {}): SplitOptions => ({ kind: 'classes', validFraction: 0.1, valClassFraction: 0.1, seed: 7, ...o });
const labels = (ds: DataSet, rows: number[]) => new Set(rows.map((r) => ds.rows[r].label));

test('split by class: held-out classes never train, a third of each queries the rest, validation carved from training classes', () => {
  const ds = dataSet(40, 6);
  const s = splitDataSet(ds, opts({ validFraction: 0.2, valClassFraction: 0.25 }));
  expect(s.kind).toBe('classes');
  const held = labels(ds, [...s.query, ...s.index]);
  expect(held.size).toBe(8); // 20% of 40 classes
  expect([...held].filter((l) => labels(ds, s.train).has(l) || labels(ds, s.val).has(l))).toEqual([]);
  expect(labels(ds, s.val).size).toBe(8); // 25% of the 32 remaining
  expect(labels(ds, s.train).size).toBe(24);
  expect([s.query.length, s.index.length]).toEqual([16, 32]); // 2 of 6 per class query
  for (const q of s.query) expect(s.solution.relevant.get(ds.rows[q].id)).toHaveLength(4);
  expect(new Set([...s.train, ...s.val, ...s.query, ...s.index]).size).toBe(240);
  expect(s.summary).toBe('split by class: train 144 images of 24 classes, per-epoch validation 48 of 8 classes; evaluation 16 queries against 32 index images of 8 classes');
  // seeded: same seed same split, another seed another
  expect(splitDataSet(ds, opts({ validFraction: 0.2, valClassFraction: 0.25 })).query).toEqual(s.query);
  expect(splitDataSet(ds, opts({ validFraction: 0.2, valClassFraction: 0.25, seed: 8 })).query).not.toEqual(s.query);
  // row order does not matter: the same ids are chosen from a shuffled file order
  const rev = { ...ds, rows: [...ds.rows].reverse() };
  expect(new Set(splitDataSet(rev, opts({ validFraction: 0.2, valClassFraction: 0.25 })).query.map((r) => rev.rows[r].id))).toEqual(new Set(s.query.map((r) => ds.rows[r].id)));
});

test('split by image within each class: queries are new photos of known classes, the index is the training photos', () => {
  const ds = dataSet(2, 5);
  const s = splitDataSet(ds, opts({ kind: 'images', validFraction: 0.2 }));
  expect(s.query.length).toBe(2); // round(5 x 0.2) = 1 per class
  expect(s.index).toEqual(s.train);
  expect(s.train.length).toBe(8);
  expect(s.val).toEqual([]);
  for (const q of s.query) expect(s.solution.relevant.get(ds.rows[q].id)).toHaveLength(4);
  expect(s.summary).toContain('no per-epoch validation');
});

test('split by record file: whole files held out, as the reference notebook', () => {
  const ds = dataSet(30, 4, 10);
  const s = splitDataSet(ds, opts({ kind: 'files', validFraction: 0.2 }));
  const heldFiles = new Set([...s.query, ...s.index].map((r) => ds.rows[r].file));
  expect(heldFiles.size).toBe(2);
  expect(s.train.concat(s.val).every((r) => !heldFiles.has(ds.rows[r].file))).toBe(true);
  expect(() => splitDataSet(dataSet(30, 4, 1), opts({ kind: 'files' }))).toThrow('/photos: 1 record file cannot be split by file: set split to "classes" or "images", or rebuild the records with a smaller --shard-size');
});

test('impossible splits name the data and what to change', () => {
  expect(() => splitDataSet(dataSet(1, 5), opts())).toThrow('/photos: only 1 class ("class 0", 5 images): retrieval training needs at least 2 classes (one sub-folder per class)');
  expect(() => splitDataSet(dataSet(3, 5), opts())).toThrow(/3 classes are too few for split "classes" \(it holds out 2 whole classes and trains on at least 2\): add classes, or set split to "images"/);
  expect(() => splitDataSet(dataSet(6, 1), opts())).toThrow(/split "classes" leaves no query with a match in the index \(each held-out class needs at least 2 images\)/);
  expect(() => splitDataSet(dataSet(6, 4), opts({ validFraction: 0 }))).toThrow(/validFraction is 0: nothing is held out/);
  expect(() => splitDataSet({ ...dataSet(2, 2), rows: [] }, opts())).toThrow(/no images/);
});

test('split by class over several sources (domains): validFraction of each source\'s classes is held out, so every domain is scored', () => {
  const ds = dataSet(30, 4);
  // 3 domains of 10, 10 and 10 classes; an unstratified 20% draw of 30 can miss a domain entirely
  const multi: DataSet = { ...ds, rows: ds.rows.map((r) => ({ ...r, source: ['north', 'south', 'west'][Math.floor(r.label / 10)] })) };
  for (const seed of [1, 2, 3, 4, 5]) {
    const s = splitDataSet(multi, opts({ validFraction: 0.2, seed }));
    const heldBySource = new Map<string, Set<number>>();
    for (const r of [...s.query, ...s.index]) heldBySource.set(multi.rows[r].source, (heldBySource.get(multi.rows[r].source) ?? new Set()).add(multi.rows[r].label));
    expect([...heldBySource.keys()].sort()).toEqual(['north', 'south', 'west']);
    for (const set of heldBySource.values()) expect(set.size).toBe(2); // 20% of each source's 10 classes
  }
});
