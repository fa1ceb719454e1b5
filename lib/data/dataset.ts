/**
 * A data set as every stage sees it: record files in a fixed order, one row per record (id,
 * label, source), the class names, and a content fingerprint that names exactly these bytes.
 * `openDataSet` turns what the user gave (nothing = the bundled sample, a folder of class folders,
 * a folder of TFRecords) into one; feature caches, splits and checkpoints key on its fingerprint.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Config } from '../config';
import { PROJECT_ROOT } from '../util/paths';
import { buildRecords, MANIFEST_FILE, readManifest } from './builders/build';
import { buildSampleData, defaultSampleDir, describeSample, type SampleOptions } from './builders/sample';
import { fetchMissingPhotos, offline, photoCacheDir } from './photos/fetch';
import { listFolderSource } from './builders/sources';
import { dataFingerprint } from './fingerprint';
import { decodeRgb } from './image';
import { debugSubset, listShards, recordKey, type BadSample } from './pipeline';
import { DEFAULT_SCHEMA, decodeRecord, type RecordSchema } from './schema';
import { newReadStats, readTfRecords } from './tfrecord';
import { readSolutionCsv, type Solution } from '../retrieval/solution';

export interface RecordRow {
  id: string;
  label: number;
  source: string;
  /** Index into DataSet.files. */
  file: number;
  /** Index of the record in its file (bad records before it counted). */
  record: number;
}

export interface DataSet {
  origin: 'sample' | 'folder' | 'records';
  /** What was given: the folder or records directory (the sample's folder for the bundled default). */
  input: string;
  /** Where the record files are (a folder given by the user is turned into records here). */
  recordsDir: string;
  files: string[];
  schema: RecordSchema;
  /** sha256 over the record files' contents, in order (and the records left out, when skipBad left any). */
  fingerprint: string;
  rows: RecordRow[];
  /** Records left out by `skipBad` (malformed, or an image that does not decode), each with why; empty otherwise. */
  skipped: BadSample[];
  /** Label -> class name (folder names for folder data; the label itself otherwise). */
  classNames: Map<number, string>;
  /** The bundled sample comes with its own split: which files hold train, query and index rows, and the solution. */
  preset?: { fileRole: Array<'train' | 'query' | 'index'>; solution: Solution };
  /** One line for logs and run.json. */
  summary: string;
}

export interface OpenDataOptions {
  /** Where records are written when `paths.data` is a folder of class folders. */
  recordsDir: string;
  /** The bundled sample's size (tests pass smaller) and where it is built. */
  sample?: Omit<SampleOptions, 'outDir' | 'log'> & { outDir?: string };
  log?: (line: string) => void;
}

export interface ReadRowsOptions {
  /**
   * Leave out (and list) malformed records, duplicate ids and images that do not decode, instead of failing
   * on the first. The images are decoded here exactly as the evaluation pipeline decodes them, so the rows
   * kept are the records the pipeline yields.
   */
  skipBad?: boolean;
}

/** Every record's id, label and source, read once; a malformed record is an error naming file and record (or, with skipBad, listed). */
export async function readRows(files: readonly string[], schema: RecordSchema, opts: ReadRowsOptions = {}): Promise<{ rows: RecordRow[]; skipped: BadSample[] }> {
  const rows: RecordRow[] = [];
  const skipped: BadSample[] = [];
  const seen = new Map<string, string>();
  for (const [fi, file] of files.entries()) {
    const stats = newReadStats();
    const checks: Array<Promise<BadSample | null>> = [];
    const fail = (b: BadSample) => {
      if (!opts.skipBad) throw new Error(b.reason);
      skipped.push(b);
    };
    for await (const bytes of readTfRecords(file, { skipCorrupt: opts.skipBad, stats })) {
      for (const e of stats.errors.splice(0)) fail({ file, index: e.index, id: `${path.basename(file)}#${e.index}`, reason: e.message });
      const n = stats.records + stats.corrupt - 1;
      const where = `${file} record ${n}`;
      const fallbackId = `${path.basename(file)}#${n}`;
      let rec: ReturnType<typeof decodeRecord>;
      try {
        rec = decodeRecord(bytes, schema, where);
      } catch (e) {
        fail({ file, index: n, id: fallbackId, reason: (e as Error).message });
        continue;
      }
      const id = rec.id ?? fallbackId;
      if (rec.image.length === 0) {
        fail({ file, index: n, id, reason: `${where}: empty image feature "${schema.image}"` });
        continue;
      }
      const prior = seen.get(id);
      if (prior) {
        fail({ file, index: n, id, reason: `${where}: id "${id}" also used by ${prior}; record ids must be unique within a data set` });
        continue;
      }
      seen.set(id, where);
      rows.push({ id, label: rec.label, source: rec.source ?? path.basename(path.dirname(file)), file: fi, record: n });
      if (opts.skipBad) {
        const image = rec.image;
        checks.push(decodeRgb(image, { name: id }).then(() => null, (e: Error) => ({ file, index: n, id, reason: `${where}: ${e.message}` })));
        if (checks.length >= DECODE_CHECKS_AT_ONCE) for (const b of await Promise.all(checks.splice(0))) if (b) skipped.push(b);
      }
    }
    for (const e of stats.errors.splice(0)) fail({ file, index: e.index, id: `${path.basename(file)}#${e.index}`, reason: e.message });
    for (const b of await Promise.all(checks)) if (b) skipped.push(b);
  }
  const unreadable = new Set(skipped.map((b) => recordKey(b.file, b.index)));
  return { rows: rows.filter((r) => !unreadable.has(recordKey(files[r.file], r.record))), skipped };
}

/** Images decoded at once while skipBad looks for the bad ones (libvips runs them on its own threads). */
const DECODE_CHECKS_AT_ONCE = 8;

/** The data set's fingerprint: its files' contents, and which records skipBad left out (they change every row index after them). */
function fingerprintOf(files: readonly string[], skipped: readonly BadSample[], memo: string): string {
  const fp = dataFingerprint(files, memo);
  if (skipped.length === 0) return fp;
  const keys = skipped.map((b) => recordKey(b.file, b.index)).sort();
  return `${fp}+skip:${createHash('sha256').update(keys.join('\n')).digest('hex').slice(0, 16)}`;
}

/** One line on what skipBad left out, for the data set's summary. */
function skippedNote(skipped: readonly BadSample[]): string {
  if (skipped.length === 0) return '';
  return `; left out ${skipped.length} bad record${skipped.length === 1 ? '' : 's'} (skipBad), first: ${skipped.slice(0, 3).map((b) => b.reason).join('; ')}`;
}

const digestMemo = (config: Config) => path.resolve(PROJECT_ROOT, config.paths.cache, 'digests.json');

function hasClassFolders(dir: string): boolean {
  return fs.readdirSync(dir, { withFileTypes: true }).some((e) => e.isDirectory());
}

/** A finished set of record files (+ manifest.json when this project built them). */
async function openRecords(origin: DataSet['origin'], input: string, recordsDir: string, config: Config): Promise<DataSet> {
  let files = listShards([recordsDir]);
  if (files.length === 0) throw new Error(`${recordsDir}: no .tfrec/.tfrecord files`);
  if (config.debug) files = debugSubset(files, config.debugShards, config.seed);
  const manifestFile = path.join(recordsDir, MANIFEST_FILE);
  const manifest = fs.existsSync(manifestFile) ? readManifest(manifestFile) : null;
  const schema = manifest?.schema ?? DEFAULT_SCHEMA;
  const { rows, skipped: bad } = await readRows(files, schema, { skipBad: config.skipBad });
  if (rows.length === 0) throw new Error(`${recordsDir}: the record files hold no ${bad.length ? 'readable ' : ''}records`);
  const classNames = new Map<number, string>();
  for (const s of manifest?.sources ?? []) for (const c of s.classes) classNames.set(c.label, c.name);
  for (const r of rows) if (!classNames.has(r.label)) classNames.set(r.label, String(r.label));
  const classes = new Set(rows.map((r) => r.label)).size;
  // files the record builder could not read: said in the summary, listed in the manifest
  const skipped = (manifest?.sources ?? []).flatMap((s) => s.skipped ?? []);
  const builderNote = skipped.length ? `; skipped ${skipped.length} unreadable file${skipped.length === 1 ? '' : 's'} (first: ${skipped[0].file}: ${skipped[0].reason.split(';')[0]}; all in ${manifestFile})` : '';
  return {
    origin,
    input,
    recordsDir,
    files,
    schema,
    fingerprint: fingerprintOf(files, bad, digestMemo(config)),
    rows,
    skipped: bad,
    classNames,
    summary: `${input}: ${rows.length} images of ${classes} classes in ${files.length} record file${files.length === 1 ? '' : 's'}${config.debug ? ' (debug subset)' : ''}${builderNote}${skippedNote(bad)}`,
  };
}

/** `paths.data` (or `dataPath`) -> a DataSet: the bundled sample when empty, records as they are, class folders built into records. */
export async function openDataSet(config: Config, opts: OpenDataOptions, dataPath: string = config.paths.data): Promise<DataSet> {
  if (dataPath === '') return openSample(config, opts);
  const input = path.resolve(dataPath);
  const st = fs.statSync(input, { throwIfNoEntry: false });
  if (!st) throw new Error(`${input}: data folder does not exist`);
  if (!st.isDirectory()) throw new Error(`${input}: not a folder (give a folder of class folders <data>/<class>/<image>, or a folder of TFRecords)`);
  if (listShards([input]).length > 0) return openRecords('records', input, input, config);
  if (!hasClassFolders(input)) {
    const loose = fs.readdirSync(input).filter((f) => /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i.test(f)).length;
    throw new Error(`${input}: no class folders and no TFRecords inside (expected <data>/<class>/<image>)${loose ? `; ${loose} images lie directly in it: move them into one sub-folder per class` : ''}`);
  }
  const source = path.basename(input).replace(/[^\w.-]/g, '_') || 'data';
  await buildRecords(listFolderSource(input), { outDir: opts.recordsDir, source, kind: 'folder', root: input, seed: config.seed });
  return openRecords('folder', input, opts.recordsDir, config);
}

async function openSample(config: Config, opts: OpenDataOptions): Promise<DataSet> {
  const outDir = opts.sample?.outDir ?? defaultSampleDir(config);
  const photoCache = opts.sample?.photoCache ?? photoCacheDir(config.paths.cache);
  // the Debian collections of the domains asked for arrive first (one line per package); a failed fetch only drops its domains
  if (!offline() && !opts.sample?.photoDirs) fetchMissingPhotos(opts.sample?.domains, photoCache, opts.log ?? ((l) => console.log(l)));
  const m = await buildSampleData({ seed: config.seed, ...opts.sample, outDir, photoCache, log: () => undefined });
  const roles = ['train', 'query', 'index'] as const;
  const files = roles.flatMap((r) => m.splits[r].shards.map((s) => path.join(outDir, s.file)));
  const fileRole = roles.flatMap((r) => m.splits[r].shards.map(() => r));
  const { rows, skipped } = await readRows(files, m.schema, { skipBad: config.skipBad });
  const classNames = new Map(rows.map((r) => [r.label, String(r.label)]));
  return {
    origin: 'sample',
    input: outDir,
    recordsDir: outDir,
    files,
    schema: m.schema,
    fingerprint: fingerprintOf(files, skipped, digestMemo(config)),
    rows,
    skipped,
    classNames,
    preset: { fileRole, solution: readSolutionCsv(path.join(outDir, m.solution)) },
    summary: `bundled sample, ${describeSample(m)}${skippedNote(skipped)}`,
  };
}
