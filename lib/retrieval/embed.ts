/**
 * Streaming embedding: images (a folder tree or TFRecord shards) -> any Embedder -> vectors and
 * ids on disk, batch by batch, resumable.
 *
 * An embeddings directory holds
 *   vectors.f32  n*dim little-endian float32, appended per batch
 *   ids.txt      one id per line, appended per batch
 *   state.json   {done, complete, dim, model, source}, replaced atomically after each batch
 * `done` is the commit point: on resume both data files are cut back to `done` rows (a kill
 * between the append and the state write leaves a torn tail, never a wrong row).
 */
import * as fs from 'fs';
import * as path from 'path';
import { decodeExample } from '../data/example';
import { readTfRecords } from '../data/tfrecord';
import type { Embedder } from '../embedder';
import type { RgbImage } from '../core/rgb-image';
import { writeFileAtomic, writeJsonAtomic, writeFileSynced } from '../util/atomic';
import { progress, ProgressOptions } from '../util/progress';
import { listFilesSorted } from '../util/walk';
import { readF32 } from './exact-index';
import { decodeRgb, resizeForModel } from '../data/image';
import type { Preprocess } from '../core/preprocess';
import { DEFAULT_SCHEMA } from '../data/schema';

export interface ImageItem {
  id: string;
  decode(): Promise<RgbImage>;
}

export interface ImageSource {
  /** Stable description (root folder, shard list): a resume must see the same source. */
  name: string;
  /** Item count when known up front (for the progress bar). */
  size?: number;
  items(): AsyncIterable<ImageItem>;
}


const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp']);

/** Every image under `root` in lib/util/walk's order (code points of the relative path, hidden entries skipped); id = that '/'-separated relative path. With `preprocess`, images decode straight to that model geometry (what training and evaluation feed a backbone). */
export function folderSource(root: string, preprocess?: Preprocess): ImageSource {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`${root}: not a directory of images`);
  const files = listFilesSorted(root).filter((rel) => IMAGE_EXT.has(path.extname(rel).toLowerCase()));
  return {
    name: `folder:${path.resolve(root)}`,
    size: files.length,
    async *items() {
      for (const rel of files) {
        const file = path.join(root, rel);
        yield { id: rel, decode: async () => decodeTo(await fs.promises.readFile(file), file, preprocess) };
      }
    },
  };
}

async function decodeTo(bytes: Uint8Array, name: string, preprocess?: Preprocess): Promise<RgbImage> {
  return preprocess ? resizeForModel(bytes, preprocess, { name }) : decodeRgb(bytes, { name });
}

export interface TfRecordSourceOptions {
  /** Feature with the encoded image bytes (default: the project schema's, lib/data/schema). */
  imageKey?: string;
  /** Feature with the id (bytes or int64); default: the schema's id feature where a record has it, else "<shard basename>:<record number>". */
  idKey?: string;
  /** Decode straight to this model geometry. */
  preprocess?: Preprocess;
}

/** Images inside TFRecord shards of tf.train.Example records, in shard order. */
export function tfrecordSource(files: readonly string[], opts: TfRecordSourceOptions = {}): ImageSource {
  const imageKey = opts.imageKey ?? DEFAULT_SCHEMA.image;
  const idKey = opts.idKey ?? DEFAULT_SCHEMA.id;
  return {
    name: `tfrecord:${files.map((f) => path.resolve(f)).join(',')}:${imageKey}:${idKey ?? ''}`,
    async *items() {
      for (const file of files) {
        let n = 0;
        for await (const record of readTfRecords(file)) {
          const ex = decodeExample(record);
          const label = `${file}: record ${n}`;
          const img = ex[imageKey];
          if (!img || img.kind !== 'bytes' || img.value.length !== 1) throw new Error(`${label}: no single bytes feature "${imageKey}"`);
          let id = `${path.basename(file)}:${n}`;
          if (idKey && (opts.idKey || ex[idKey])) {
            const f = ex[idKey];
            if (!f || f.value.length !== 1) throw new Error(`${label}: no single-valued feature "${idKey}"`);
            id = f.kind === 'bytes' ? Buffer.from(f.value[0]).toString('utf8') : String(f.value[0]);
          }
          const bytes = img.value[0];
          yield { id, decode: () => decodeTo(bytes, label, opts.preprocess) };
          n++;
        }
      }
    },
  };
}

export interface EmbedState {
  format: 'guie-embeddings';
  version: 1;
  dim: number;
  model: string;
  source: string;
  done: number;
  complete: boolean;
  /** Items that did not decode (skipped, not embedded), with why; absent in runs written before skipping existed. */
  skipped?: { id: string; reason: string }[];
}

export interface EmbedOptions {
  batchSize?: number;
  /** Start over even if the directory holds a finished or partial run. */
  restart?: boolean;
  /** What names the model's bytes (model-loader's fingerprint); default the embedder's name. A run of another model is never resumed. */
  modelId?: string;
  /** Fail on the first image that does not decode (default: skip it, record why in state.json, go on). */
  strict?: boolean;
  progress?: ProgressOptions['mode'];
  onBatch?: (done: number) => void;
}

const STATE = 'state.json';
const VECTORS = 'vectors.f32';
const IDS = 'ids.txt';

function readState(dir: string): EmbedState | null {
  const file = path.join(dir, STATE);
  if (!fs.existsSync(file)) return null;
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<EmbedState>;
  if (s.format !== 'guie-embeddings' || s.version !== 1 || !Number.isInteger(s.done) || !Number.isInteger(s.dim)) {
    throw new Error(`${file}: not a guie-embeddings v1 state file`);
  }
  return s as EmbedState;
}

/** Cuts ids.txt and vectors.f32 back to the committed `done` rows; returns the committed ids. */
function rollBack(dir: string, state: EmbedState): string[] {
  const idsFile = path.join(dir, IDS);
  const vecFile = path.join(dir, VECTORS);
  const ids = fs.existsSync(idsFile) ? fs.readFileSync(idsFile, 'utf8').split('\n').slice(0, state.done) : [];
  const vecBytes = fs.existsSync(vecFile) ? fs.statSync(vecFile).size : 0;
  if (ids.length < state.done || vecBytes < state.done * state.dim * 4) {
    throw new Error(`${dir}: state.json says ${state.done} rows are done but the data files are shorter (delete the folder or pass restart)`);
  }
  fs.writeFileSync(idsFile, ids.length > 0 ? ids.join('\n') + '\n' : '');
  fs.truncateSync(vecFile, state.done * state.dim * 4);
  return ids;
}


/** Embeds every image of `source` into `outDir`, resuming a partial run of the same source and model. */
export async function embedToDir(source: ImageSource, embedder: Embedder, outDir: string, opts: EmbedOptions = {}): Promise<EmbedState> {
  const batchSize = opts.batchSize ?? 32;
  fs.mkdirSync(outDir, { recursive: true });
  let state = opts.restart ? null : readState(outDir);
  const model = opts.modelId ?? embedder.name;
  if (state && (state.source !== source.name || state.model !== model || state.dim !== embedder.dim)) {
    throw new Error(
      `${path.join(outDir, STATE)}: holds a run of model "${state.model}" (dim ${state.dim}) over ${state.source}; ` +
        `this run is "${model}" (dim ${embedder.dim}) over ${source.name} (--restart overwrites it, or choose another --out)`,
    );
  }
  if (state?.complete) return state;
  const committed = state ? rollBack(outDir, state) : [];
  if (!state) {
    state = { format: 'guie-embeddings', version: 1, dim: embedder.dim, model, source: source.name, done: 0, complete: false };
    writeFileAtomic(path.join(outDir, VECTORS), new Uint8Array(0));
    writeFileAtomic(path.join(outDir, IDS), '');
    writeJsonAtomic(path.join(outDir, STATE), state);
  }

  const bar = progress({ label: `embed ${embedder.name}`, total: source.size ?? 0, mode: opts.progress });
  bar.update(state.done);
  let batch: ImageItem[] = [];
  const flush = async (s: EmbedState) => {
    const decoded = await Promise.all(batch.map((b) => b.decode().then((image) => ({ item: b, image }), (e: unknown) => ({ item: b, error: e instanceof Error ? e.message : String(e) }))));
    const good = decoded.filter((d): d is { item: ImageItem; image: RgbImage } => 'image' in d);
    for (const d of decoded) {
      if (!('error' in d)) continue;
      if (opts.strict) throw new Error(`${d.error} (--strict: no image is skipped)`);
      (s.skipped ??= []).push({ id: d.item.id, reason: d.error });
    }
    const vectors = good.length > 0 ? await embedder.embed(good.map((d) => d.image)) : new Float32Array(0);
    if (vectors.length !== good.length * s.dim) throw new Error(`embedder ${embedder.name} returned ${vectors.length} floats for ${good.length} images of dim ${s.dim}`);
    if (good.length > 0) {
      writeFileSynced(path.join(outDir, VECTORS), new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength), 'a');
      writeFileSynced(path.join(outDir, IDS), good.map((d) => d.item.id).join('\n') + '\n', 'a');
    }
    s.done += good.length;
    writeJsonAtomic(path.join(outDir, STATE), s);
    bar.update(s.done);
    opts.onBatch?.(s.done);
    batch = [];
  };
  try {
    let n = 0;
    const skippedBefore = new Set((state.skipped ?? []).map((k) => k.id));
    for await (const item of source.items()) {
      if (/[\n\r]/.test(item.id)) throw new Error(`${source.name}: id ${JSON.stringify(item.id)} contains a line break`);
      if (skippedBefore.has(item.id)) continue; // skipped by the interrupted run: neither committed nor tried again
      if (n < committed.length) {
        if (committed[n] !== item.id) throw new Error(`${outDir}: row ${n} is "${committed[n]}" but the source now yields "${item.id}" (source changed; pass restart)`);
        n++;
        continue;
      }
      n++;
      batch.push(item);
      if (batch.length === batchSize) await flush(state);
    }
    if (batch.length > 0) await flush(state);
  } finally {
    bar.stop();
  }
  state.complete = true;
  writeJsonAtomic(path.join(outDir, STATE), state);
  return state;
}

export interface Embeddings {
  ids: string[];
  /** n*dim row-major float32. */
  vectors: Float32Array;
  dim: number;
}

/** Reads a finished embeddings directory (embedToDir's or writeEmbeddings'). */
export function readEmbeddings(dir: string): Embeddings {
  const state = readState(dir);
  if (!state) throw new Error(`${dir}: no ${STATE} (not an embeddings directory)`);
  if (!state.complete) throw new Error(`${dir}: embedding run is incomplete (${state.done} rows done); resume it first`);
  const ids = fs.readFileSync(path.join(dir, IDS), 'utf8').split('\n').slice(0, state.done);
  if (ids.length !== state.done) throw new Error(`${path.join(dir, IDS)}: ${ids.length} ids, expected ${state.done}`);
  return { ids, vectors: readF32(path.join(dir, VECTORS), state.done * state.dim), dim: state.dim };
}

/** Writes vectors computed elsewhere (synthetic sets, other tools) as a finished embeddings directory. */
export function writeEmbeddings(dir: string, emb: Embeddings, model = 'external'): void {
  if (emb.vectors.length !== emb.ids.length * emb.dim) throw new Error(`writeEmbeddings: ${emb.ids.length} ids but ${emb.vectors.length / emb.dim} vectors`);
  const bad = emb.ids.find((id) => /[\n\r]/.test(id));
  if (bad !== undefined) throw new Error(`writeEmbeddings: id ${JSON.stringify(bad)} contains a line break`);
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(path.join(dir, STATE), { force: true }); // no state until both data files are whole
  writeFileAtomic(path.join(dir, VECTORS), new Uint8Array(emb.vectors.buffer, emb.vectors.byteOffset, emb.vectors.byteLength));
  writeFileAtomic(path.join(dir, IDS), emb.ids.map((id) => id + '\n').join(''));
  const state: EmbedState = { format: 'guie-embeddings', version: 1, dim: emb.dim, model, source: 'external', done: emb.ids.length, complete: true };
  writeJsonAtomic(path.join(dir, STATE), state);
}
