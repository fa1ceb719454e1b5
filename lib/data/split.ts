/**
 * Which rows of a data set train the head, which validate it each epoch, and which form the
 * held-out retrieval evaluation (queries + index + ground truth). Seeded; every choice is by
 * sorted id first, so the same data and seed give the same split whatever the file order.
 *   classes  whole classes held out (unseen instances, as the GUIE test set): the default
 *   images   each class's images split: new photos of known classes searched against the training photos
 *   files    record files held out, as the reference notebook's 90/10 split by file
 * Per-epoch validation is always carved from the training classes, never from the evaluation.
 */
import type { SplitKind } from '../config';
import type { Solution } from '../retrieval/solution';
import { mixSeed } from './augment';
import { Rng } from '../util/random';
import type { DataSet, RecordRow } from './dataset';
import { splitShards } from './pipeline';

export interface DataSplit {
  kind: SplitKind | 'sample';
  /** Row numbers into DataSet.rows. */
  train: number[];
  /** Per-epoch validation rows (leave-one-out mP@5); empty when too few classes to spare. */
  val: number[];
  query: number[];
  index: number[];
  /** Query id -> relevant index ids (+ domain per query). */
  solution: Solution;
  summary: string;
}

export interface SplitOptions {
  kind: SplitKind;
  validFraction: number;
  valClassFraction: number;
  seed: number;
}

export class SplitError extends Error {
  constructor(input: string, message: string) {
    super(`${input}: ${message}`);
    this.name = 'SplitError';
  }
}

/** label -> row numbers (each list sorted by id), labels ascending. */
function byClass(rows: readonly RecordRow[], subset: readonly number[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const i of [...subset].sort((a, b) => (rows[a].id < rows[b].id ? -1 : rows[a].id > rows[b].id ? 1 : 0))) {
    const l = rows[i].label;
    out.set(l, [...(out.get(l) ?? []), i]);
  }
  return new Map([...out.entries()].sort((a, b) => a[0] - b[0]));
}

/** Held-out rows -> queries and index: a third of each class's images (at least 1) query the rest; single images stay in the index as distractors. */
function queriesAndIndex(rows: readonly RecordRow[], heldOut: readonly number[], seed: number): { query: number[]; index: number[] } {
  const query: number[] = [];
  const index: number[] = [];
  for (const [label, list] of byClass(rows, heldOut)) {
    if (list.length < 2) {
      index.push(...list);
      continue;
    }
    const order = new Rng(mixSeed(seed, 0x9e7, label)).shuffled(list);
    const q = Math.max(1, Math.floor(list.length / 3));
    query.push(...order.slice(0, q));
    index.push(...order.slice(q));
  }
  return { query, index };
}

function solutionOf(rows: readonly RecordRow[], query: readonly number[], index: readonly number[]): Solution {
  const byLabel = new Map<number, string[]>();
  for (const i of index) byLabel.set(rows[i].label, [...(byLabel.get(rows[i].label) ?? []), rows[i].id]);
  const sol: Solution = { relevant: new Map(), usage: new Map(), domain: new Map() };
  for (const q of query) {
    const rel = byLabel.get(rows[q].label);
    if (!rel || rel.length === 0) continue;
    sol.relevant.set(rows[q].id, rel);
    sol.domain.set(rows[q].id, rows[q].source);
  }
  return sol;
}

/**
 * The classes held out for evaluation: a seeded draw of `n`; with several sources (domains) the draw is
 * stratified, validFraction of each source's classes (at least 1), so every domain is scored.
 */
function heldOutClasses(rows: readonly RecordRow[], classes: Map<number, number[]>, n: number, fraction: number, seed: number): Set<number> {
  const names = [...classes.keys()];
  const sourceOf = (label: number) => rows[classes.get(label)![0]].source;
  const sources = [...new Set(names.map(sourceOf))].sort();
  if (sources.length < 2) return new Set(new Rng(mixSeed(seed, 0xc1a)).shuffled(names).slice(0, n));
  return new Set(
    sources.flatMap((src, k) => {
      const own = names.filter((l) => sourceOf(l) === src);
      return new Rng(mixSeed(seed, 0xc1a, k)).shuffled(own).slice(0, Math.max(1, Math.round(own.length * fraction)));
    }),
  );
}

/** A share of the training classes for per-epoch validation, when at least 2 can be spared and 2 remain. */
function carveValidation(rows: readonly RecordRow[], train: number[], fraction: number, seed: number): { train: number[]; val: number[] } {
  const classes = [...byClass(rows, train).keys()];
  const n = Math.round(classes.length * fraction);
  if (n < 2 || classes.length - n < 2) return { train, val: [] };
  const valClasses = new Set(new Rng(mixSeed(seed, 0x7a1)).shuffled(classes).slice(0, n));
  return { train: train.filter((i) => !valClasses.has(rows[i].label)), val: train.filter((i) => valClasses.has(rows[i].label)) };
}

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : w.endsWith('s') ? 'es' : 's'}`;

function describe(kind: DataSplit['kind'], rows: readonly RecordRow[], s: Omit<DataSplit, 'summary' | 'kind'>): string {
  const classes = (l: number[]) => new Set(l.map((i) => rows[i].label)).size;
  const how = { classes: 'by class', images: 'by image within each class', files: 'by record file', sample: "the sample's own split" }[kind];
  return (
    `split ${how}: train ${s.train.length} images of ${plural(classes(s.train), 'class')}` +
    (s.val.length ? `, per-epoch validation ${s.val.length} of ${plural(classes(s.val), 'class')}` : ', no per-epoch validation (too few classes to spare; the last epoch is kept)') +
    `; evaluation ${s.solution.relevant.size} queries against ${s.index.length} index images of ${plural(classes(s.index), 'class')}`
  );
}

export function splitDataSet(ds: DataSet, o: SplitOptions): DataSplit {
  const rows = ds.rows;
  const all = rows.map((_, i) => i);
  const classes = byClass(rows, all);
  if (rows.length === 0) throw new SplitError(ds.input, 'no images');
  if (classes.size < 2) {
    const name = ds.classNames.get([...classes.keys()][0]) ?? '?';
    throw new SplitError(ds.input, `only 1 class ("${name}", ${rows.length} images): retrieval training needs at least 2 classes (one sub-folder per class)`);
  }
  let kind: DataSplit['kind'] = o.kind;
  let train: number[];
  let query: number[];
  let index: number[];
  if (ds.preset) {
    kind = 'sample';
    const role = (i: number) => ds.preset!.fileRole[rows[i].file];
    train = all.filter((i) => role(i) === 'train');
    query = all.filter((i) => role(i) === 'query');
    index = all.filter((i) => role(i) === 'index');
  } else if (o.validFraction <= 0) {
    throw new SplitError(ds.input, 'validFraction is 0: nothing is held out for evaluation (set it to e.g. 0.1)');
  } else if (o.kind === 'classes') {
    const names = [...classes.keys()];
    const nHeld = Math.max(2, Math.round(names.length * o.validFraction));
    if (names.length - nHeld < 2) {
      throw new SplitError(ds.input, `${names.length} classes are too few for split "classes" (it holds out ${nHeld} whole classes and trains on at least 2): add classes, or set split to "images" (--split images) to hold out images within each class`);
    }
    const held = heldOutClasses(rows, classes, nHeld, o.validFraction, o.seed);
    train = all.filter((i) => !held.has(rows[i].label));
    ({ query, index } = queriesAndIndex(rows, all.filter((i) => held.has(rows[i].label)), o.seed));
  } else if (o.kind === 'images') {
    query = [];
    for (const [label, list] of classes) {
      if (list.length < 2) continue;
      const q = Math.min(list.length - 1, Math.max(1, Math.round(list.length * o.validFraction)));
      query.push(...new Rng(mixSeed(o.seed, 0x1a9, label)).shuffled(list).slice(0, q));
    }
    const isQuery = new Set(query);
    train = all.filter((i) => !isQuery.has(i));
    index = train;
  } else {
    if (ds.files.length < 2) throw new SplitError(ds.input, `1 record file cannot be split by file: set split to "classes" or "images", or rebuild the records with a smaller --shard-size`);
    const valid = new Set(splitShards(ds.files, o.validFraction, o.seed).valid);
    train = all.filter((i) => !valid.has(ds.files[rows[i].file]));
    ({ query, index } = queriesAndIndex(rows, all.filter((i) => valid.has(ds.files[rows[i].file])), o.seed));
  }
  const solution = ds.preset ? ds.preset.solution : solutionOf(rows, query, index);
  if (solution.relevant.size === 0) throw new SplitError(ds.input, `split "${kind}" leaves no query with a match in the index (each held-out class needs at least 2 images)`);
  if (new Set(train.map((i) => rows[i].label)).size < 2) throw new SplitError(ds.input, `split "${kind}" leaves fewer than 2 training classes`);
  const carved = kind === 'images' ? { train, val: [] } : carveValidation(rows, train, o.valClassFraction, o.seed);
  const parts = { train: carved.train, val: carved.val, query, index, solution };
  return { kind, ...parts, summary: describe(kind, rows, parts) };
}
