/**
 * A small self-checking retrieval gallery from any folder of photos: every photo goes to the
 * index, and some photos also yield a query that is an altered copy (crop, mirror, brightness),
 * whose one relevant index image is its original. Instance-level retrieval, as in GUIE, with
 * answers known by construction: for notebooks, smoke tests and embedder sanity checks.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { Solution, writeSolutionCsv } from './solution';
import { Rng } from '../util/random';

export interface AugmentedGalleryOptions {
  /** How many of the photos also become queries (spread evenly over the list). */
  queries: number;
  seed?: number;
  /** Domain of a photo (e.g. its folder or file prefix), for per-domain metrics. */
  domain?: (file: string) => string;
}

export interface AugmentedGallery {
  indexDir: string;
  queryDir: string;
  solutionCsv: string;
  solution: Solution;
}

/** Writes outDir/index, outDir/queries and outDir/solution.csv (queries alternate Public/Private). */
export async function buildAugmentedGallery(files: readonly string[], outDir: string, opts: AugmentedGalleryOptions): Promise<AugmentedGallery> {
  if (opts.queries > files.length) throw new Error(`buildAugmentedGallery: ${opts.queries} queries from ${files.length} photos`);
  const indexDir = path.join(outDir, 'index');
  const queryDir = path.join(outDir, 'queries');
  fs.mkdirSync(indexDir, { recursive: true });
  fs.mkdirSync(queryDir, { recursive: true });
  const rand = new Rng(opts.seed ?? 1);
  const solution: Solution = { relevant: new Map(), usage: new Map(), domain: new Map() };
  const step = files.length / Math.max(opts.queries, 1);
  const queryAt = new Set(Array.from({ length: opts.queries }, (_, i) => Math.floor(i * step)));
  for (const [i, file] of files.entries()) {
    const id = `${String(i).padStart(5, '0')}.jpg`;
    const img = sharp(file).rotate().removeAlpha();
    await img.clone().jpeg({ quality: 90 }).toFile(path.join(indexDir, id));
    if (!queryAt.has(i)) continue;
    const { width = 1, height = 1 } = await sharp(file).metadata();
    const keep = 0.7 + 0.2 * rand.float();
    const w = Math.max(1, Math.floor(width * keep));
    const h = Math.max(1, Math.floor(height * keep));
    const q = img
      .clone()
      .extract({ left: Math.floor((width - w) * rand.float()), top: Math.floor((height - h) * rand.float()), width: w, height: h })
      .modulate({ brightness: 0.85 + 0.3 * rand.float() });
    const qid = `q${id}`;
    await (rand.float() < 0.5 ? q.flop() : q).jpeg({ quality: 85 }).toFile(path.join(queryDir, qid));
    solution.relevant.set(qid, [id]);
    solution.usage.set(qid, solution.usage.size % 2 === 0 ? 'Public' : 'Private');
    if (opts.domain) solution.domain.set(qid, opts.domain(file));
  }
  const solutionCsv = path.join(outDir, 'solution.csv');
  writeSolutionCsv(solutionCsv, solution);
  return { indexDir, queryDir, solutionCsv, solution };
}
