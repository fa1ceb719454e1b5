/**
 * Evaluation as the host ran it: query embeddings -> nearest index images -> mP@5 against a
 * solution CSV, with Public/Private and per-domain breakdowns, plus recall@k and mAP@100.
 * `guie eval`, the notebook and training validation all call these functions.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Embedder } from '../embedder';
import { writeJsonAtomic } from '../util/atomic';
import { listFilesSorted } from '../util/walk';
import type { BaselineBackbone } from './baseline-backbone';
import { compareToBaselines, formatBaselines, scoreBaselines, type BaselineOutcome } from './baselines';
import { embedToDir, Embeddings, folderSource, ImageSource, readEmbeddings } from './embed';
import { ExactIndex, ExactIndexOptions } from './exact-index';
import { HnswIndex, HnswOptions } from './hnsw-index';
import { MetricsReport, MetricSet, retrievalMetrics } from './metrics';
import { readSolutionCsv, Solution, solutionParts } from './solution';
import { solutionFromIds } from './folder-truth';
import { createHash } from 'crypto';
import { neighbourIds, SearchResult, VectorIndex } from './vector-index';

export interface EvalOptions {
  /** Neighbours retrieved per query (mAP@100 reads 100). */
  k?: number;
  indexKind?: 'exact' | 'hnsw';
  exact?: ExactIndexOptions;
  hnsw?: Partial<HnswOptions>;
  /** Queries that the solution does not list: an error on the host ('error'), or left out ('ignore'). */
  extraQueries?: 'error' | 'ignore';
  recallKs?: number[];
}

export interface EvalReport {
  metrics: MetricsReport;
  index: { kind: 'exact' | 'hnsw'; size: number; dim: number };
  queries: { embedded: number; inSolution: number; ignored: number };
  k: number;
  searchSeconds: number;
  /** The untrained backbone's training-free baselines beside the model (`guie eval --model` on image folders). */
  baselines?: BaselineOutcome;
}

/** Builds an index over embeddings. */
export function buildIndex(emb: Embeddings, kind: 'exact' | 'hnsw' = 'exact', opts: Pick<EvalOptions, 'exact' | 'hnsw'> = {}): VectorIndex {
  const index = kind === 'exact' ? new ExactIndex(emb.dim, opts.exact) : new HnswIndex(emb.dim, { capacity: emb.ids.length, ...opts.hnsw });
  index.add(emb.ids, emb.vectors);
  return index;
}

/** An embeddings directory (state.json) or a saved index directory (meta.json). */
export function openIndex(dir: string, kind: 'exact' | 'hnsw' = 'exact', opts: Pick<EvalOptions, 'exact' | 'hnsw'> = {}): VectorIndex {
  if (fs.existsSync(path.join(dir, 'state.json'))) return buildIndex(readEmbeddings(dir), kind, opts);
  const metaFile = path.join(dir, 'meta.json');
  if (!fs.existsSync(metaFile)) throw new Error(`${dir}: neither an embeddings directory (state.json) nor a saved index (meta.json)`);
  const format = (JSON.parse(fs.readFileSync(metaFile, 'utf8')) as { format?: string }).format;
  if (format === 'guie-exact-index') return ExactIndex.load(dir, opts.exact);
  if (format === 'guie-hnsw-index') return HnswIndex.load(dir);
  throw new Error(`${metaFile}: unknown index format ${JSON.stringify(format)}`);
}

/** Top-k index ids for every query: the predictions map the metrics take. */
export async function predict(queries: Embeddings, index: VectorIndex, k: number): Promise<{ predictions: Map<string, string[]>; result: SearchResult }> {
  if (queries.dim !== index.dim) throw new Error(`query embeddings are ${queries.dim}-d but the index is ${index.dim}-d`);
  const result = await index.search(queries.vectors, k);
  const rows = neighbourIds(result, index.ids);
  return { predictions: new Map(queries.ids.map((id, i) => [id, rows[i]])), result };
}

export async function evaluateEmbeddings(queries: Embeddings, index: VectorIndex, solution: Solution, opts: EvalOptions = {}): Promise<EvalReport> {
  const k = opts.k ?? 100;
  const inSolution = queries.ids.filter((id) => solution.relevant.has(id)).length;
  const extra = queries.ids.length - inSolution;
  if (extra > 0 && (opts.extraQueries ?? 'error') === 'error') {
    const first = queries.ids.find((id) => !solution.relevant.has(id));
    throw new Error(`${extra} query embeddings are not in the solution (first: "${first}"); the host rejects them (use extraQueries 'ignore')`);
  }
  const t0 = process.hrtime.bigint();
  const { predictions } = await predict(queries, index, k);
  const searchSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const id of queries.ids) if (!solution.relevant.has(id)) predictions.delete(id);
  const { relevance, breakdown } = solutionParts(solution);
  return {
    metrics: retrievalMetrics(predictions, relevance, breakdown, opts.recallKs ?? [1, 5, 10, 100].filter((r) => r <= k)),
    index: { kind: index.kind, size: index.size, dim: index.dim },
    queries: { embedded: queries.ids.length, inSolution, ignored: extra },
    k,
    searchSeconds,
  };
}

/** Just the metrics of query embeddings against index embeddings (an exact index over `index`, disposed after). */
export async function scoreEmbeddings(queries: Embeddings, index: Embeddings, solution: Solution, opts: EvalOptions = {}): Promise<MetricsReport> {
  const built = buildIndex(index, opts.indexKind, opts);
  try {
    return (await evaluateEmbeddings(queries, built, solution, { ...opts, k: Math.min(opts.k ?? 100, index.ids.length) })).metrics;
  } finally {
    await built.dispose();
  }
}

/** Images plus a model: embed both sets (resumable, under `workDir`), then evaluate. */
export async function evaluateImages(
  embedder: Embedder,
  querySource: ImageSource,
  indexSource: ImageSource,
  solution: Solution,
  workDir: string,
  opts: EvalOptions & { batchSize?: number } = {},
): Promise<EvalReport> {
  const qDir = path.join(workDir, 'queries');
  const iDir = path.join(workDir, 'index');
  await embedToDir(querySource, embedder, qDir, { batchSize: opts.batchSize });
  await embedToDir(indexSource, embedder, iDir, { batchSize: opts.batchSize });
  const index = buildIndex(readEmbeddings(iDir), opts.indexKind, opts);
  try {
    return await evaluateEmbeddings(readEmbeddings(qDir), index, solution, opts);
  } finally {
    await index.dispose();
  }
}

const f4 = (x: number) => x.toFixed(4);

/** Plain-text summary: mP@5 by split, then a per-domain table. */
export function formatEvalReport(r: EvalReport): string {
  const row = (name: string, m: MetricSet) =>
    [name.padEnd(24), String(m.queries).padStart(7), f4(m.mP5).padStart(8), f4(m.mAP100).padStart(8), ...Object.values(m.recall).map((v) => f4(v).padStart(8))].join(' ');
  const head = ['group'.padEnd(24), 'queries'.padStart(7), 'mP@5'.padStart(8), 'mAP@100'.padStart(8), ...Object.keys(r.metrics.overall.recall).map((k) => `R@${k}`.padStart(8))].join(' ');
  const splits = Object.entries(r.metrics.byUsage).map(([s, m]) => `${s} ${f4(m.mP5)}`);
  const lines = [
    `mP@5 overall ${f4(r.metrics.overall.mP5)}${splits.length ? '  ' + splits.join('  ') : ''}`,
    `${r.queries.inSolution} queries (${r.queries.ignored} ignored), ${r.index.kind} index of ${r.index.size} x ${r.index.dim}, top-${r.k} search ${r.searchSeconds.toFixed(2)} s`,
    '',
    head,
    row('overall', r.metrics.overall),
    ...Object.entries(r.metrics.byUsage).map(([s, m]) => row(`usage:${s}`, m)),
    ...Object.entries(r.metrics.byDomain).map(([d, m]) => row(`domain:${d}`, m)),
  ];
  return lines.join('\n');
}

export interface EvalCommandOptions extends EvalOptions {
  /** Query embeddings directory, or a folder of query images (needs `embedder`). */
  queries: string;
  /** Index embeddings directory, saved index, or a folder of index images (needs `embedder`). */
  index: string;
  /** Host-style solution CSV; without it the ground truth comes from class folder names (lib/retrieval/folder-truth.ts). */
  solution?: string;
  /** JSON report path. */
  out?: string;
  /** Embeds image folders given as queries/index; vectors are cached (resumable) under `workDir`. */
  embedder?: Embedder;
  /** Names the embedder's weights (lib/model-loader.ts): part of the cache folder name. */
  modelFingerprint?: string;
  workDir?: string;
  batchSize?: number;
  /** With `embedder` on image folders: opens the model's untrained backbone (lib/retrieval/baseline-backbone.ts), or says why there is none; absent: no baselines. */
  openBaseline?: () => Promise<BaselineBackbone | { reason: string }>;
}

const isEmbeddings = (dir: string) => fs.existsSync(path.join(dir, 'state.json'));
const isSavedIndex = (dir: string) => fs.existsSync(path.join(dir, 'meta.json'));
const short = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);

/** Names, sizes and times of the images under `dir`: a changed folder gets a fresh cache instead of a resume error. */
function listingStamp(dir: string): string {
  const parts = listFilesSorted(dir).map((rel) => {
    const st = fs.statSync(path.join(dir, rel));
    return `${rel}:${st.size}:${st.mtimeMs}`;
  });
  return short(parts.join('\n'));
}

/** A folder of images embedded by `embedder`, cached under the work dir by model key, folder path and listing. */
async function embedFolder(dir: string, role: 'queries' | 'index', embedder: Embedder, key: string, opts: EvalCommandOptions): Promise<Embeddings> {
  const root = opts.workDir ?? path.join(path.dirname(path.resolve(opts.solution ?? dir)), 'eval-cache');
  const cache = path.join(root, short(key), `${role}-${short(path.resolve(dir))}-${listingStamp(dir)}`);
  await embedToDir(folderSource(dir, embedder.preprocess), embedder, cache, { batchSize: opts.batchSize });
  return readEmbeddings(cache);
}

/** Embeddings as given, or embedded now from a folder of images. */
async function embeddingsOf(dir: string, role: 'queries' | 'index', opts: EvalCommandOptions): Promise<Embeddings> {
  if (isEmbeddings(dir)) return readEmbeddings(dir);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--${role} ${dir}: not a folder`);
  if (!opts.embedder) throw new Error(`${dir}: not an embeddings directory (no state.json); pass --model to embed a folder of images`);
  return embedFolder(dir, role, opts.embedder, opts.modelFingerprint ?? opts.embedder.name, opts);
}

/** The same query and index folders through the untrained backbone, beside the model's metrics. */
async function baselinesOf(opts: EvalCommandOptions, open: () => Promise<BaselineBackbone | { reason: string }>, model: MetricsReport, solution: Solution, extraQueries: EvalOptions['extraQueries']): Promise<BaselineOutcome> {
  const given = [opts.queries, opts.index].find((d) => isEmbeddings(d) || isSavedIndex(d));
  if (given) return { kind: 'skipped', reason: `${given} holds embeddings, not images: the untrained backbone needs the image folders` };
  const baseline = await open();
  if ('reason' in baseline) return { kind: 'skipped', reason: baseline.reason };
  try {
    const features = { queries: await embedFolder(opts.queries, 'queries', baseline.embedder, baseline.key, opts), index: await embedFolder(opts.index, 'index', baseline.embedder, baseline.key, opts) };
    if (features.index.ids.length < 2) return { kind: 'skipped', reason: 'a PCA needs at least 2 index images' };
    const scores = await scoreBaselines(features, (q, i) => scoreEmbeddings(q, i, solution, { ...opts, extraQueries }), { backbone: baseline.name, trainWhitening: baseline.trainWhitening });
    return compareToBaselines(model, scores);
  } finally {
    baseline.embedder.dispose();
  }
}

/** `guie eval`: prints the summary, writes the JSON report, returns it. */
export async function evalCommand(opts: EvalCommandOptions, log: (s: string) => void = console.log): Promise<EvalReport> {
  const queries = await embeddingsOf(opts.queries, 'queries', opts);
  const index = isSavedIndex(opts.index)
    ? openIndex(opts.index, opts.indexKind, opts)
    : buildIndex(await embeddingsOf(opts.index, 'index', opts), opts.indexKind, opts);
  try {
    let solution: Solution;
    let extraQueries = opts.extraQueries;
    if (opts.solution) solution = readSolutionCsv(opts.solution);
    else {
      const truth = solutionFromIds(queries.ids, index.ids);
      solution = truth.solution;
      if (truth.unmatched.length > 0) log(`${truth.unmatched.length} queries have no class folder in the index and are left out (first: ${truth.unmatched[0]})`);
      extraQueries = 'ignore';
    }
    const scored = await evaluateEmbeddings(queries, index, solution, { ...opts, extraQueries });
    const report: EvalReport = opts.embedder && opts.openBaseline ? { ...scored, baselines: await baselinesOf(opts, opts.openBaseline, scored.metrics, solution, extraQueries) } : scored;
    log(formatEvalReport(report));
    if (report.baselines) log(formatBaselines(report.baselines));
    if (opts.out) {
      const inputs = { solution: opts.solution ? path.resolve(opts.solution) : 'class folders', queries: path.resolve(opts.queries), index: path.resolve(opts.index), model: opts.embedder?.name };
      writeJsonAtomic(opts.out, { inputs, ...report });
      log(`report: ${opts.out}`);
    }
    return report;
  } finally {
    await index.dispose();
  }
}
