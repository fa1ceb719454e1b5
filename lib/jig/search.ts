/**
 * The jig's core step, shared by `guie jig`, the notebook and the report: embed a folder of query
 * images, search the gallery, and score the answers when ground truth is known (a query's label
 * equals gallery labels), with the host's mP@5 overall and per domain (lib/retrieval/metrics).
 */
import * as fs from 'fs';
import type { BaselineOutcome } from '../retrieval/baselines';
import { retrievalMetrics, type MetricsReport } from '../retrieval/metrics';
import type { Solution } from '../retrieval/solution';
import type { Gallery, GalleryItem, Match } from './gallery';
import { listImageFolder } from './gallery';
import { ImageError, thumbnail } from './image';
import { pca2 } from '../viz/projection';

export interface QueryResult extends GalleryItem {
  /** JPEG thumbnail of the query. */
  thumb: Buffer;
  /** Top-k, best first; `hit` is set when the query has ground truth. */
  matches: Array<Match & { hit?: boolean }>;
}

export interface JigResult {
  k: number;
  queries: QueryResult[];
  /** Host-style metrics over the queries whose label occurs in the gallery; undefined when none does. */
  metrics?: MetricsReport;
  /** Queries without ground truth (no label, or a label the gallery lacks): shown, not scored. */
  unjudged: number;
  /** Query files that did not decode, with why: left out of the search, the metrics and the baselines. */
  skipped: SkippedFile[];
  /** 2-D PCA (lib/viz) of gallery then query embeddings: n*2 row-major each, and the variance share per axis. */
  projection: { gallery: Float32Array; queries: Float32Array; explained?: [number, number] };
  /** The model's untrained backbone beside it (lib/jig/baselines.ts), when `guie jig` computed them. */
  baselines?: BaselineOutcome;
}

export interface JigOptions {
  k: number;
  /** Images embedded per call. */
  batchSize: number;
  /** Fail on the first query file that does not decode (default: skip it, say so, go on). */
  strict: boolean;
}

export type QueryFile = GalleryItem & { file: string };
export interface SkippedFile {
  file: string;
  reason: string;
}

/**
 * Embeds query files in batches with `gallery`'s embedder and limits. A batch holding a file that does not
 * decode is retried file by file, so only that file is left out (named with why), unless `strict`.
 */
export async function embedQueryFiles(gallery: Gallery, files: readonly QueryFile[], opts: { batchSize: number; strict?: boolean }): Promise<{ kept: QueryFile[]; vectors: Float32Array; skipped: SkippedFile[] }> {
  const read = (part: readonly QueryFile[]) => Promise.all(part.map((f) => fs.promises.readFile(f.file)));
  const kept: QueryFile[] = [];
  const rows: Float32Array[] = [];
  const skipped: SkippedFile[] = [];
  for (let b = 0; b < files.length; b += opts.batchSize) {
    const part = files.slice(b, b + opts.batchSize);
    try {
      rows.push(await gallery.embedEncoded(await read(part), part.map((f) => f.file)));
      kept.push(...part);
      continue;
    } catch (e) {
      if (!(e instanceof ImageError) || opts.strict) throw opts.strict && e instanceof ImageError ? new Error(`${e.message} (--strict: no query is skipped)`) : e;
    }
    for (const f of part) {
      try {
        rows.push(await gallery.embedEncoded(await read([f]), [f.file]));
        kept.push(f);
      } catch (e) {
        if (!(e instanceof ImageError)) throw e;
        skipped.push({ file: f.file, reason: e.message });
      }
    }
  }
  const vectors = new Float32Array(kept.length * gallery.embedder.dim);
  let at = 0;
  for (const r of rows) vectors.set(r, (at += r.length) - r.length);
  return { kept, vectors, skipped };
}

/** Ground truth of query files against gallery items: same label = relevant; queries whose label the gallery lacks are left out. */
export function jigSolution(items: readonly GalleryItem[], queries: readonly GalleryItem[]): Solution {
  const byLabel = new Map<string, string[]>();
  for (const it of items) if (it.label !== undefined) byLabel.set(it.label, [...(byLabel.get(it.label) ?? []), it.key]);
  const solution: Solution = { relevant: new Map(), usage: new Map(), domain: new Map() };
  for (const q of queries) {
    const relevant = q.label !== undefined ? byLabel.get(q.label) : undefined;
    if (!relevant) continue;
    solution.relevant.set(q.key, relevant);
    if (q.domain !== undefined) solution.domain.set(q.key, q.domain);
  }
  return solution;
}

/** Searches every image under `queryDir` (labels/domains from sub-folders, as for galleries). */
export async function searchFolder(gallery: Gallery, queryDir: string, options: Partial<JigOptions> = {}): Promise<JigResult> {
  const opts: JigOptions = { k: 5, batchSize: 32, strict: false, ...options };
  const listed = listImageFolder(queryDir);
  if (listed.length === 0) throw new Error(`queries ${queryDir}: no images found`);
  const { kept: files, vectors, skipped } = await embedQueryFiles(gallery, listed, opts);
  if (files.length === 0) throw new Error(`queries ${queryDir}: none of the ${listed.length} images decodes (first: ${skipped[0].reason})`);
  // mP@5 and mAP@100 need their full prediction lists even when fewer matches are displayed.
  const ranked = await gallery.search(vectors, Math.max(opts.k, 100));

  const { relevant: relevance, domain } = jigSolution(gallery.items, files);
  const predictions = new Map<string, string[]>();
  const queries: QueryResult[] = [];
  for (const [i, f] of files.entries()) {
    const relevant = relevance.get(f.key);
    if (relevant) predictions.set(f.key, ranked[i].map((m) => m.key));
    queries.push({
      key: f.key,
      label: f.label,
      domain: f.domain,
      thumb: await thumbnail(fs.readFileSync(f.file)),
      matches: ranked[i].slice(0, opts.k).map((m) => (relevant ? { ...m, hit: m.label === f.label } : m)),
    });
  }
  const both = new Float32Array(gallery.index.vectors.length + vectors.length);
  both.set(gallery.index.vectors);
  both.set(vectors, gallery.index.vectors.length);
  const pca = pca2(both, gallery.embedder.dim);
  return {
    k: opts.k,
    queries,
    metrics: relevance.size > 0 ? retrievalMetrics(predictions, relevance, { domain }, [1, 5]) : undefined,
    unjudged: files.length - relevance.size,
    skipped,
    projection: { gallery: pca.points.slice(0, 2 * gallery.size), queries: pca.points.slice(2 * gallery.size), explained: pca.explained },
  };
}
