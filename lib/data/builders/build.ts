/**
 * Source items -> sharded TFRecords + manifest.json.
 * Plan (check every image header, cap/min per class, labels from offset, seeded shuffle, shards),
 * then write each shard atomically. A rerun with the same inputs reuses shards already complete
 * (resume), and the manifest is written last.
 */
import { mapLimit } from '../../util/map-limit';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { writeJsonAtomic } from '../../util/atomic';
import { progress, type ProgressOptions } from '../../util/progress';
import { mixSeed } from '../augment';
import { Rng } from '../../util/random';
import { DEFAULT_MAX_PIXELS, refusedFormat } from '../image';
import { DEFAULT_SCHEMA, decodeRecord, encodeRecord, type RecordSchema } from '../schema';
import { readTfRecords, TfRecordWriter } from '../tfrecord';
import type { SourceItem, SourceKind } from './sources';

export interface BuildOptions {
  outDir: string;
  /** Source name: shard file prefix and the records' source feature. */
  source: string;
  kind: SourceKind;
  /** Where the images came from (recorded in the manifest). */
  root: string;
  labelOffset?: number;
  /** Records per shard. */
  shardSize?: number;
  /** Keep at most this many images per class (seeded sample). */
  maxPerClass?: number;
  /** Drop classes with fewer images than this (after dropping unreadable files). */
  minPerClass?: number;
  /** Keep only the N largest classes (e.g. the reference notebook's 7,000-landmark GLDv2 subset). */
  maxClasses?: number;
  seed?: number;
  schema?: RecordSchema;
  maxPixels?: number;
  progressMode?: ProgressOptions['mode'];
  /** Images checked at once. */
  concurrency?: number;
}

export interface ClassEntry {
  label: number;
  name: string;
  count: number;
}

export interface SourceManifest {
  name: string;
  kind: SourceKind;
  root: string;
  labelOffset: number;
  /** Inclusive [first, last] label; [offset, offset - 1] when empty. */
  labelRange: [number, number];
  numClasses: number;
  numImages: number;
  /** Classes dropped for having fewer than minPerClass images or by maxClasses. */
  droppedClasses: number;
  options: { shardSize: number; maxPerClass: number | null; minPerClass: number; maxClasses: number | null; seed: number };
  classes: ClassEntry[];
  /** Files that are not readable images (named, with the reason). */
  skipped: Array<{ file: string; reason: string }>;
}

export interface ShardEntry {
  /** Relative to the manifest's directory. */
  file: string;
  source: string;
  records: number;
  bytes: number;
}

export interface Manifest {
  version: 1;
  schema: RecordSchema;
  sources: SourceManifest[];
  shards: ShardEntry[];
}

export const MANIFEST_FILE = 'manifest.json';

/** Numeric class names sort as numbers (Products-10K and GLDv2 ids), others as strings. */
function compareClassNames(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}


/** Header check: a readable image with sane dimensions, or the reason it is not. */
async function checkImage(file: string, maxPixels: number): Promise<string | null> {
  try {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st) return 'file not found';
    if (st.size === 0) return 'zero-byte file';
    const head = Buffer.alloc(Math.min(st.size, 1024));
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    const refused = refusedFormat(head);
    if (refused) return refused;
    const meta = await sharp(file, { limitInputPixels: maxPixels }).metadata();
    if (!meta.width || !meta.height) return 'no image dimensions';
    if (meta.width * meta.height > maxPixels) return `${meta.width}x${meta.height} exceeds the pixel limit ${maxPixels}`;
  } catch (e) {
    return `not a readable image (${(e as Error).message})`;
  }
  // every pixel decoded, at a reduced size (JPEG shrink-on-load keeps it cheap): a header can be fine while the data is cut short
  try {
    await sharp(file, { limitInputPixels: maxPixels, failOn: 'error' }).resize(64, 64, { fit: 'inside' }).raw().toBuffer();
    return null;
  } catch (e) {
    return `truncated or corrupt image data (${(e as Error).message.split('\n')[0]})`;
  }
}


/** Resume: an existing shard is kept only if it holds exactly the planned records (ids, labels and image bytes, in order). */
async function shardMatches(file: string, part: Array<SourceItem & { label: number }>, schema: RecordSchema): Promise<boolean> {
  if (!fs.existsSync(file)) return false;
  let i = 0;
  try {
    for await (const bytes of readTfRecords(file)) {
      const rec = decodeRecord(bytes, schema, file);
      if (i >= part.length || rec.id !== part[i].id || rec.label !== part[i].label) return false;
      if (!Buffer.from(rec.image.buffer, rec.image.byteOffset, rec.image.byteLength).equals(fs.readFileSync(part[i].file))) return false; // a photo edited in place
      i += 1;
    }
  } catch {
    return false;
  }
  return i === part.length;
}

export const shardName = (source: string, i: number, n: number) => `${source}-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.tfrec`;

export async function buildRecords(items: SourceItem[], opts: BuildOptions): Promise<Manifest> {
  const labelOffset = opts.labelOffset ?? 0;
  const shardSize = opts.shardSize ?? 1000;
  const minPerClass = opts.minPerClass ?? 1;
  const seed = opts.seed ?? 42;
  const schema = opts.schema ?? DEFAULT_SCHEMA;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!/^[\w.-]+$/.test(opts.source)) throw new Error(`source name "${opts.source}" must be letters, digits, '.', '_' or '-' (it names the shard files)`);
  if (shardSize < 1) throw new Error(`shardSize must be >= 1, got ${shardSize}`);

  // 1. Which files are images.
  const check = progress({ label: `check ${opts.source}`, total: items.length, mode: opts.progressMode });
  const reasons = await mapLimit(items, opts.concurrency ?? 8, async (it) => {
    const r = await checkImage(it.file, maxPixels);
    check.increment();
    return r;
  });
  check.stop();
  const skipped = items.flatMap((it, i) => (reasons[i] ? [{ file: it.file, reason: reasons[i] as string }] : []));

  // 2. Classes: cap, minimum, labels.
  const byClass = new Map<string, SourceItem[]>();
  items.forEach((it, i) => {
    if (reasons[i]) return;
    const list = byClass.get(it.className) ?? [];
    list.push(it);
    byClass.set(it.className, list);
  });
  const names = [...byClass.keys()].sort(compareClassNames);
  const size = (n: string) => (byClass.get(n) as SourceItem[]).length;
  let kept = names.filter((n) => size(n) >= minPerClass);
  if (opts.maxClasses !== undefined && kept.length > opts.maxClasses) {
    // Largest first (stable sort keeps name order among equals), then back to name order for labels.
    const largest = new Set([...kept].sort((a, b) => size(b) - size(a)).slice(0, opts.maxClasses));
    kept = kept.filter((n) => largest.has(n));
  }
  const classes: ClassEntry[] = [];
  const sorted: Array<SourceItem & { label: number }> = [];
  kept.forEach((name, rank) => {
    let list = byClass.get(name) as SourceItem[];
    if (opts.maxPerClass !== undefined && list.length > opts.maxPerClass) {
      list = new Rng(mixSeed(seed, rank, 0xca9)).shuffled(list).slice(0, opts.maxPerClass);
    }
    const label = labelOffset + rank;
    classes.push({ label, name, count: list.length });
    for (const it of list) sorted.push({ ...it, label });
  });
  const planned = new Rng(mixSeed(seed, 0x5ad)).shuffled(sorted);
  if (planned.length === 0) {
    const why =
      items.length === 0
        ? opts.kind === 'folder'
          ? 'no image files found (expected <root>/<class>/<image>)'
          : 'the list names no images'
        : skipped.length === items.length
          ? `none of its ${items.length} files is a readable image (first: ${skipped[0].file}: ${skipped[0].reason})`
          : `all ${names.length} classes were dropped by minPerClass ${minPerClass}${opts.maxClasses !== undefined ? ` / maxClasses ${opts.maxClasses}` : ''}`;
    throw new Error(`${opts.root}: nothing to write: ${why}`);
  }

  // 3. Shards (atomic; complete ones from an earlier run are kept).
  fs.mkdirSync(opts.outDir, { recursive: true });
  const nShards = Math.ceil(planned.length / shardSize);
  const shards: ShardEntry[] = [];
  const write = progress({ label: `write ${opts.source}`, total: planned.length, mode: opts.progressMode });
  for (let s = 0; s < nShards; s++) {
    const part = planned.slice(s * shardSize, (s + 1) * shardSize);
    const file = path.join(opts.outDir, shardName(opts.source, s, nShards));
    if (await shardMatches(file, part, schema)) {
      shards.push({ file: path.basename(file), source: opts.source, records: part.length, bytes: fs.statSync(file).size });
      write.increment(part.length, { shard: `${s + 1}/${nShards} (kept)` });
      continue;
    }
    const w = new TfRecordWriter(file);
    try {
      for (const it of part) {
        w.write(encodeRecord({ image: fs.readFileSync(it.file), label: it.label, id: it.id, source: opts.source }, schema));
        write.increment(1, { shard: `${s + 1}/${nShards}` });
      }
    } catch (e) {
      w.abort();
      throw e;
    }
    w.close();
    shards.push({ file: path.basename(file), source: opts.source, records: w.records, bytes: w.size });
  }
  write.stop();

  const manifest: Manifest = {
    version: 1,
    schema,
    sources: [
      {
        name: opts.source,
        kind: opts.kind,
        root: opts.root,
        labelOffset,
        labelRange: [labelOffset, labelOffset + classes.length - 1],
        numClasses: classes.length,
        numImages: planned.length,
        droppedClasses: names.length - kept.length,
        options: { shardSize, maxPerClass: opts.maxPerClass ?? null, minPerClass, maxClasses: opts.maxClasses ?? null, seed },
        classes,
        skipped,
      },
    ],
    shards,
  };
  writeJsonAtomic(path.join(opts.outDir, MANIFEST_FILE), manifest);
  return manifest;
}

export function readManifest(file: string): Manifest {
  const p = fs.statSync(file, { throwIfNoEntry: false })?.isDirectory() ? path.join(file, MANIFEST_FILE) : file;
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(p, 'utf8')) as Manifest;
  } catch (e) {
    throw new Error(`${p}: cannot read manifest (${(e as Error).message})`);
  }
  if (m.version !== 1 || !Array.isArray(m.sources) || !Array.isArray(m.shards)) throw new Error(`${p}: not a GUIE records manifest (version 1)`);
  return m;
}

/** Shard paths of a manifest, resolved against its directory. */
export function manifestShards(file: string): string[] {
  const dir = fs.statSync(file).isDirectory() ? file : path.dirname(file);
  return readManifest(file).shards.map((s) => path.join(dir, s.file));
}

/** Several sources' manifests as one; label ranges must not overlap (the notebook's disjoint ranges). */
export function mergeManifests(manifests: Manifest[]): Manifest {
  const sources = manifests.flatMap((m) => m.sources).sort((a, b) => a.labelOffset - b.labelOffset);
  for (let i = 1; i < sources.length; i++) {
    const prev = sources[i - 1];
    if (sources[i].labelRange[0] <= prev.labelRange[1]) {
      throw new Error(`label ranges overlap: ${prev.name} [${prev.labelRange.join('-')}] and ${sources[i].name} [${sources[i].labelRange.join('-')}]`);
    }
  }
  return { version: 1, schema: manifests[0]?.schema ?? DEFAULT_SCHEMA, sources, shards: manifests.flatMap((m) => m.shards) };
}
