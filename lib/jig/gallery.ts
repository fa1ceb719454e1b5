/**
 * A gallery: images from a folder (label = parent folder, domain = top-level folder when nested
 * two deep) or from TFRecord shards, embedded once into an exact index and cached on disk under
 * a fingerprint of (file contents, embedder name, dim, preprocess): reused while nothing changed.
 * Items are addressed by their position (the "index id"); client-supplied paths never reach disk.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Embedder } from '../embedder';
import { readTfRecords } from '../data/tfrecord';
import { decodeRecord, DEFAULT_SCHEMA, type RecordSchema } from '../data/schema';
import { ExactIndex } from '../retrieval/exact-index';
import { embedToDir, readEmbeddings, type Embeddings, type ImageSource } from '../retrieval/embed';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic';
import { PROJECT_ROOT } from '../util/paths';
import { listFilesSorted } from '../util/walk';
import { decodeForEmbedder, DEFAULT_LIMITS, thumbnail, type ImageLimits } from './image';

export interface GalleryItem {
  /** Stable name: path relative to the gallery folder, or `<shard>#<record>` / the record's id. */
  key: string;
  label?: string;
  domain?: string;
}

export interface Match extends GalleryItem {
  /** Index id: position in the gallery, what `/api/gallery/:id` takes. */
  index: number;
  score: number;
}

export interface GalleryStats {
  source: string;
  size: number;
  dim: number;
  embedder: string;
  labels: number;
  domains: Record<string, number>;
  fingerprint: string;
  /** True when the index came from the cache, false when it was embedded in this process. */
  cached: boolean;
  buildMs: number;
}

export interface GalleryOptions {
  /** Parent folder of cached indexes (default outputs/jig/cache). */
  cacheDir?: string;
  limits?: ImageLimits;
  /** Feature names when the gallery is TFRecords. */
  schema?: RecordSchema;
  batchSize?: number;
  /** Names the model's weights (e.g. a hash of its file): part of the cache fingerprint. */
  modelFingerprint?: string;
  /** Progress output mode while embedding (see util/progress). */
  progressMode?: 'bar' | 'lines' | 'silent';
  /** Where "skipped N unreadable images" goes (default console.warn). */
  log?: (line: string) => void;
  /** Fail on the first image that does not decode instead of skipping it. */
  strict?: boolean;
}

const CACHE_FORMAT = 'guie-jig-gallery-v1';
const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;
const TFRECORD_EXT = /\.tfrec(ord)?s?$/i;

/** One image of a source, read on demand so large galleries are never all in memory. */
interface SourceEntry extends GalleryItem {
  read(): Promise<Uint8Array>;
}

interface Source {
  entries: SourceEntry[];
  /** Files whose bytes make up the gallery (hashed for the fingerprint). */
  files: string[];
}

/** Image files under `dir` with labels from folder names (`<label>/x.jpg` or `<domain>/<label>/x.jpg`). */
export function listImageFolder(dir: string): Array<GalleryItem & { file: string }> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`${dir}: not a folder of images`);
  return listFilesSorted(dir)
    .filter((rel) => IMAGE_EXT.test(rel))
    .map((rel) => {
      const parts = rel.split('/');
      return {
        file: path.join(dir, rel),
        key: rel,
        label: parts.length >= 2 ? parts[parts.length - 2] : undefined,
        domain: parts.length >= 3 ? parts[0] : undefined,
      };
    });
}

function tfrecordFiles(source: string): string[] {
  if (fs.statSync(source).isFile()) return [source];
  return listFilesSorted(source).filter((rel) => TFRECORD_EXT.test(rel)).map((rel) => path.join(source, rel));
}

async function openSource(source: string, schema: RecordSchema): Promise<Source> {
  if (!fs.existsSync(source)) throw new Error(`gallery ${source}: no such file or folder`);
  const shards = tfrecordFiles(source);
  if (shards.length > 0) {
    // Records are kept in memory (one pass over the shards): the jig is meant for demo-size galleries.
    const entries: SourceEntry[] = [];
    for (const shard of shards) {
      let n = 0;
      for await (const bytes of readTfRecords(shard)) {
        const where = `${shard} record ${n}`;
        const rec = decodeRecord(bytes, schema, where);
        entries.push({ key: rec.id ?? `${path.basename(shard)}#${n}`, label: String(rec.label), domain: rec.source, read: async () => rec.image });
        n++;
      }
    }
    return { entries, files: shards };
  }
  const items = listImageFolder(source);
  return { entries: items.map(({ file, ...item }) => ({ ...item, read: () => fs.promises.readFile(file) })), files: items.map((i) => i.file) };
}

function fingerprint(files: string[], root: string, embedder: Embedder, model = ''): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ format: CACHE_FORMAT, embedder: embedder.name, model, dim: embedder.dim, preprocess: embedder.preprocess }));
  for (const f of files) {
    h.update(path.relative(root, f));
    h.update(createHash('sha256').update(fs.readFileSync(f)).digest());
  }
  return h.digest('hex').slice(0, 24);
}

interface CachedItems {
  format: typeof CACHE_FORMAT;
  items: GalleryItem[];
  /** Byte offsets of each thumbnail in thumbs.bin (n+1 entries). */
  thumbOffsets: number[];
}

export class Gallery {
  constructor(
    readonly items: readonly GalleryItem[],
    readonly index: ExactIndex,
    private readonly thumbs: readonly Buffer[],
    readonly embedder: Embedder,
    readonly info: { source: string; fingerprint: string; cached: boolean; buildMs: number; limits: ImageLimits; embeddingsDir: string },
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** JPEG thumbnail of item `i`, or undefined when `i` is not an index id of this gallery. */
  thumbnail(i: number): Buffer | undefined {
    return Number.isInteger(i) && i >= 0 && i < this.thumbs.length ? this.thumbs[i] : undefined;
  }

  /** Decodes (with the gallery's limits) and embeds encoded images; `names` go into error messages. */
  async embedEncoded(images: Uint8Array[], names: string[] = images.map((_, i) => `image ${i}`)): Promise<Float32Array> {
    const rgb = await Promise.all(images.map(async (b, i) => (await decodeForEmbedder(b, this.embedder.preprocess, this.info.limits, names[i])).rgb));
    return this.embedder.embed(rgb);
  }

  /** The embedder's rows as cached, ids = item keys (before the index L2-normalises them: a baseline's raw features). */
  features(): Embeddings {
    return readEmbeddings(this.info.embeddingsDir);
  }

  /** Top-k gallery matches for each query vector, best first. */
  async search(queries: Float32Array, k: number): Promise<Match[][]> {
    const r = await this.index.search(queries, Math.min(k, this.size));
    const out: Match[][] = [];
    for (let q = 0; q < r.nq; q++) {
      const row: Match[] = [];
      for (let j = 0; j < r.k; j++) {
        const i = r.indices[q * r.k + j];
        if (i >= 0) row.push({ index: i, score: r.scores[q * r.k + j], ...this.items[i] });
      }
      out.push(row);
    }
    return out;
  }

  stats(): GalleryStats {
    const domains: Record<string, number> = {};
    for (const it of this.items) if (it.domain !== undefined) domains[it.domain] = (domains[it.domain] ?? 0) + 1;
    return {
      source: this.info.source,
      size: this.size,
      dim: this.embedder.dim,
      embedder: this.embedder.name,
      labels: new Set(this.items.flatMap((i) => (i.label === undefined ? [] : [i.label]))).size,
      domains,
      fingerprint: this.info.fingerprint,
      cached: this.info.cached,
      buildMs: this.info.buildMs,
    };
  }

  async dispose(): Promise<void> {
    await this.index.dispose();
  }
}

/** items.json is written last, so its presence means the whole cache entry is complete. */
function loadCached(dir: string): { items: GalleryItem[]; thumbs: Buffer[] } | undefined {
  const meta = path.join(dir, 'items.json');
  if (!fs.existsSync(meta)) return undefined;
  const cached = JSON.parse(fs.readFileSync(meta, 'utf8')) as CachedItems;
  if (cached.format !== CACHE_FORMAT) return undefined;
  const blob = fs.readFileSync(path.join(dir, 'thumbs.bin'));
  const thumbs = cached.items.map((_, i) => blob.subarray(cached.thumbOffsets[i], cached.thumbOffsets[i + 1]));
  return { items: cached.items, thumbs };
}

/** Opens `source` (image folder, TFRecord file or folder of shards), embedding it unless a cached index matches. */
export async function openGallery(source: string, embedder: Embedder, opts: GalleryOptions = {}): Promise<Gallery> {
  const t0 = Date.now();
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const src = await openSource(source, opts.schema ?? DEFAULT_SCHEMA);
  if (src.entries.length === 0) throw new Error(`gallery ${source}: no images found`);
  const fp = fingerprint(src.files, source, embedder, opts.modelFingerprint);
  const dir = path.join(opts.cacheDir ?? path.join(PROJECT_ROOT, 'outputs', 'jig', 'cache'), fp);
  const info = { source, fingerprint: fp, limits, embeddingsDir: path.join(dir, 'embeddings') };
  const finish = (items: GalleryItem[], thumbs: Buffer[], cached: boolean): Gallery => {
    const emb = readEmbeddings(info.embeddingsDir);
    const index = new ExactIndex(emb.dim);
    index.add(emb.ids, emb.vectors);
    return new Gallery(items, index, thumbs, embedder, { ...info, cached, buildMs: Date.now() - t0 });
  };

  const hit = loadCached(dir);
  if (hit) return finish(hit.items, hit.thumbs, true);

  // The streaming embed step resumes an interrupted build of the same fingerprint.
  const imageSource: ImageSource = {
    name: `jig:${fp}`,
    size: src.entries.length,
    async *items() {
      for (const e of src.entries) yield { id: e.key, decode: async () => (await decodeForEmbedder(await e.read(), embedder.preprocess, limits, `${source}: ${e.key}`)).rgb };
    },
  };
  const state = await embedToDir(imageSource, embedder, info.embeddingsDir, { batchSize: opts.batchSize, progress: opts.progressMode, strict: opts.strict });
  // a file that does not decode is left out of the gallery (said once), not the end of the whole folder
  const skipped = new Set((state.skipped ?? []).map((k) => k.id));
  if (skipped.size > 0) (opts.log ?? ((m: string) => console.warn(m)))(`${source}: skipped ${skipped.size} unreadable images (--strict fails instead), first: ${(state.skipped ?? []).slice(0, 3).map((k) => k.reason).join('; ')}`);
  const entries = src.entries.filter((e) => !skipped.has(e.key));

  const thumbs: Buffer[] = [];
  for (const e of entries) thumbs.push(await thumbnail(await e.read(), undefined, limits));
  const items: GalleryItem[] = entries.map(({ key, label, domain }) => ({ key, label, domain }));
  const offsets = [0];
  for (const t of thumbs) offsets.push(offsets[offsets.length - 1] + t.length);
  writeFileAtomic(path.join(dir, 'thumbs.bin'), Buffer.concat(thumbs));
  writeJsonAtomic(path.join(dir, 'items.json'), { format: CACHE_FORMAT, items, thumbOffsets: offsets } satisfies CachedItems);
  return finish(items, thumbs, false);
}
