/**
 * A data set as every stage sees it: record files in a fixed order, one row per record (id,
 * label, source), the class names, and a content fingerprint that names exactly these bytes.
 * `openDataSet` turns what the user gave (nothing = the bundled sample, a folder of class folders,
 * a folder of TFRecords) into one; feature caches, splits and checkpoints key on its fingerprint.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Config } from '../config';
import { PROJECT_ROOT } from '../util/paths';
import { buildRecords, MANIFEST_FILE, readManifest } from './builders/build';
import { buildSampleData, defaultSampleDir, describeSample, type SampleOptions } from './builders/sample';
import { fetchMissingPhotos, offline, photoCacheDir } from './photos/fetch';
import { listFolderSource } from './builders/sources';
import { dataFingerprint } from './fingerprint';
import { debugSubset, listShards } from './pipeline';
import { DEFAULT_SCHEMA, decodeRecord, type RecordSchema } from './schema';
import { readTfRecords } from './tfrecord';
import { readSolutionCsv, type Solution } from '../retrieval/solution';

export interface RecordRow {
  id: string;
  label: number;
  source: string;
  /** Index into DataSet.files. */
  file: number;
}

export interface DataSet {
  origin: 'sample' | 'folder' | 'records';
  /** What was given: the folder or records directory (the sample's folder for the bundled default). */
  input: string;
  /** Where the record files are (a folder given by the user is turned into records here). */
  recordsDir: string;
  files: string[];
  schema: RecordSchema;
  /** sha256 over the record files' contents, in order. */
  fingerprint: string;
  rows: RecordRow[];
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

/** Every record's id, label and source, read once; a malformed record is an error naming file and record. */
export async function readRows(files: readonly string[], schema: RecordSchema): Promise<RecordRow[]> {
  const rows: RecordRow[] = [];
  const seen = new Map<string, string>();
  for (const [fi, file] of files.entries()) {
    let n = 0;
    for await (const bytes of readTfRecords(file)) {
      const where = `${file} record ${n}`;
      const rec = decodeRecord(bytes, schema, where);
      if (rec.image.length === 0) throw new Error(`${where}: empty image feature "${schema.image}"`);
      const id = rec.id ?? `${path.basename(file)}#${n}`;
      const prior = seen.get(id);
      if (prior) throw new Error(`${where}: id "${id}" also used by ${prior}; record ids must be unique within a data set`);
      seen.set(id, where);
      rows.push({ id, label: rec.label, source: rec.source ?? path.basename(path.dirname(file)), file: fi });
      n++;
    }
  }
  return rows;
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
  const rows = await readRows(files, schema);
  if (rows.length === 0) throw new Error(`${recordsDir}: the record files hold no records`);
  const classNames = new Map<number, string>();
  for (const s of manifest?.sources ?? []) for (const c of s.classes) classNames.set(c.label, c.name);
  for (const r of rows) if (!classNames.has(r.label)) classNames.set(r.label, String(r.label));
  const classes = new Set(rows.map((r) => r.label)).size;
  // files the record builder could not read: said in the summary, listed in the manifest
  const skipped = (manifest?.sources ?? []).flatMap((s) => s.skipped ?? []);
  const skippedNote = skipped.length ? `; skipped ${skipped.length} unreadable file${skipped.length === 1 ? '' : 's'} (first: ${skipped[0].file}: ${skipped[0].reason.split(';')[0]}; all in ${manifestFile})` : '';
  return {
    origin,
    input,
    recordsDir,
    files,
    schema,
    fingerprint: dataFingerprint(files, digestMemo(config)),
    rows,
    classNames,
    summary: `${input}: ${rows.length} images of ${classes} classes in ${files.length} record file${files.length === 1 ? '' : 's'}${config.debug ? ' (debug subset)' : ''}${skippedNote}`,
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
  const rows = await readRows(files, m.schema);
  const classNames = new Map(rows.map((r) => [r.label, String(r.label)]));
  return {
    origin: 'sample',
    input: outDir,
    recordsDir: outDir,
    files,
    schema: m.schema,
    fingerprint: dataFingerprint(files, digestMemo(config)),
    rows,
    classNames,
    preset: { fileRole, solution: readSolutionCsv(path.join(outDir, m.solution)) },
    summary: `bundled sample, ${describeSample(m)}`,
  };
}
