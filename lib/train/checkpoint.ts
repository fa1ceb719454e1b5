/**
 * Training checkpoints that survive kill -9: each is a directory `ckpt-<step>` holding
 *   tensors.bin  every tensor's float32 bytes, back to back (weights and optimizer slots)
 *   state.json   step, epoch, data position, RNG state, optimizer step, best metric, tensor table, CRC32C
 * built under a temporary name (files fsynced), then renamed into place and the parent fsynced.
 * A reader only ever sees complete checkpoints; one whose CRC does not match is skipped with a warning.
 */
import { crc32c } from '@node-rs/crc32';
import * as fs from 'fs';
import * as path from 'path';
import type { Preprocess } from '../core/preprocess';
import { transpose2d } from '../core/layout';
import type { HeadConfig } from './model';
import type { RngState } from '../util/random';
import { writeFileSynced } from '../util/atomic';

const FORMAT = 'guie-train-checkpoint';
const NAME = /^ckpt-(\d{9})$/;

export interface TrainPosition {
  /** Optimizer updates done. */
  step: number;
  epoch: number;
  /** Batches of `epoch` already consumed (0 at an epoch boundary). */
  batchInEpoch: number;
}

export interface CheckpointState extends TrainPosition {
  /** Dropout/augmentation RNG, exactly where the run left it. */
  rng: RngState;
  optimizer: { kind: string; step: number };
  best: { metric: number; epoch: number; step: number } | null;
  /** Anything else the loop wants back (stage, config fingerprint, last metrics). */
  extra: Record<string, unknown>;
}

/** What a checkpoint's weights belong to, so export and embedding need nothing else (saved in every checkpoint's state). */
export interface CheckpointModel {
  backbone: string;
  preprocess: Preprocess;
  head: HeadConfig;
  data: { input: string; fingerprint: string; split: string };
  featureKey: string;
  /** True when the checkpoint holds fine-tuned backbone weights (`param/backbone.*`) beside the head. */
  backboneTuned?: boolean;
}

/** Fine-tuned backbone tensors of a checkpoint, by the backbone's own names (prefix "backbone." dropped); empty for head-only checkpoints. */
export function backboneTensors(ckpt: Checkpoint): Map<string, NamedArray> {
  const out = new Map<string, NamedArray>();
  for (const [k, t] of ckpt.tensors) if (k.startsWith('param/backbone.')) out.set(k.slice('param/backbone.'.length), t);
  return out;
}

/** A checkpoint's head in model/heads.ts's layouts; `margin` is null in checkpoints of the first export format (a Dense alone). */
export interface CheckpointHead {
  /** [dim, in] */
  weight: NamedArray;
  bias: NamedArray;
  /** [classes·subCenters, dim] */
  margin: NamedArray | null;
}

/**
 * The one reader of a checkpoint's head weights. Checkpoints written for the first `guie export` hold
 * a Keras Dense (`param/head.kernel` [in, dim] + `param/head.bias`): they are re-laid out here.
 * `inDim` is the feature width the head must take (its backbone's; `backbone` names it for the error).
 */
export function checkpointHead(ckpt: Checkpoint, inDim: number, backbone?: string): CheckpointHead {
  const t = ckpt.tensors;
  const kernel = t.get('param/head.kernel');
  const weight = t.get('param/head.proj.weight') ?? (kernel && { shape: [kernel.shape[1], kernel.shape[0]], values: transpose2d(kernel.values, kernel.shape[0], kernel.shape[1]) });
  const bias = t.get('param/head.proj.bias') ?? t.get('param/head.bias');
  if (!weight || !bias) {
    const has = [...t.keys()].filter((k) => k.startsWith('param/')).slice(0, 8).join(', ');
    throw new Error(`${ckpt.dir}: checkpoint has no head projection ("param/head.proj.weight"+"param/head.proj.bias", or an older export's "param/head.kernel"+"param/head.bias"; has: ${has})`);
  }
  if (weight.shape.length !== 2 || weight.shape[1] !== inDim) {
    const trainedOn = checkpointModel(ckpt)?.backbone;
    const hint = trainedOn ? `: it was trained on ${trainedOn} features; export with --backbone ${trainedOn} (or leave --backbone out)` : '; pass the --backbone it was trained on';
    throw new Error(`${ckpt.dir}: the head takes ${weight.shape[1]}-d features (weight [${weight.shape}]) but backbone ${backbone ?? '?'} gives ${inDim}-d features${hint}`);
  }
  return { weight, bias, margin: t.get('param/head.margin.weight') ?? null };
}

/** The model a checkpoint records, or null for checkpoints written without one (tests, older runs). */
export function checkpointModel(ckpt: Checkpoint): CheckpointModel | null {
  const m = ckpt.state.extra.model as CheckpointModel | undefined;
  return m && typeof m.backbone === 'string' && m.head ? m : null;
}

/**
 * A checkpoint directory from what a user may pass: the checkpoint itself, a run's checkpoints/
 * folder, a `guie train` output or a `guie run` folder (their best, else newest, checkpoint).
 */
export function resolveCheckpointDir(p: string): string {
  const abs = path.resolve(p);
  if (!fs.existsSync(abs)) throw new Error(`${abs}: does not exist (a run's best head is <run>/train/checkpoints/best, or <train --out>/checkpoints/best)`);
  if (fs.existsSync(path.join(abs, 'state.json'))) return abs;
  // a backbone stage's checkpoints (head + tuned backbone) win over the head stage's
  for (const root of [abs, path.join(abs, 'backbone', 'checkpoints'), path.join(abs, 'checkpoints'), path.join(abs, 'train', 'backbone', 'checkpoints'), path.join(abs, 'train', 'checkpoints')]) {
    if (fs.existsSync(path.join(root, 'best', 'state.json'))) return path.join(root, 'best');
    const newest = listCheckpoints(root)[0];
    if (newest) return newest;
  }
  throw new Error(`${abs}: not a checkpoint (no state.json) and holds no checkpoints/ (expected <run>/train/checkpoints/best)`);
}

export interface NamedArray {
  shape: number[];
  values: Float32Array;
}

export interface Checkpoint {
  dir: string;
  state: CheckpointState;
  tensors: Map<string, NamedArray>;
}

interface StateFile extends CheckpointState {
  format: typeof FORMAT;
  version: 1;
  tensorTable: Array<{ name: string; shape: number[]; offset: number; length: number }>;
  bytes: number;
  crc32c: number;
}


function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function checkpointName(step: number): string {
  return `ckpt-${String(step).padStart(9, '0')}`;
}

/** Writes `root/name` atomically (replacing an older one of that name); returns its path. */
export function saveCheckpoint(root: string, name: string, state: CheckpointState, tensors: Map<string, NamedArray>): string {
  fs.mkdirSync(root, { recursive: true });
  const table: StateFile['tensorTable'] = [];
  let total = 0;
  for (const [tname, t] of tensors) {
    table.push({ name: tname, shape: t.shape, offset: total, length: t.values.length });
    total += t.values.byteLength;
  }
  const bin = new Uint8Array(total);
  for (const [i, t] of [...tensors.values()].entries()) bin.set(new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength), table[i].offset);
  const file: StateFile = { format: FORMAT, version: 1, ...state, tensorTable: table, bytes: total, crc32c: crc32c(bin) };

  const final = path.join(root, name);
  const tmp = path.join(root, `.${name}.tmp-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  writeFileSynced(path.join(tmp, 'tensors.bin'), bin);
  writeFileSynced(path.join(tmp, 'state.json'), JSON.stringify(file, null, 1) + '\n');
  fsyncDir(tmp);
  // rename() cannot replace a non-empty directory: move the old one aside first
  const old = path.join(root, `.${name}.old-${process.pid}`);
  if (fs.existsSync(final)) fs.renameSync(final, old);
  fs.renameSync(tmp, final);
  fsyncDir(root);
  fs.rmSync(old, { recursive: true, force: true });
  return final;
}

export function loadCheckpoint(dir: string): Checkpoint {
  const stateFile = path.join(dir, 'state.json');
  if (!fs.existsSync(stateFile)) throw new Error(`${dir}: no state.json (not a checkpoint directory)`);
  const s = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as StateFile;
  if (s.format !== FORMAT || s.version !== 1) throw new Error(`${stateFile}: not a ${FORMAT} v1 file`);
  const bin = fs.readFileSync(path.join(dir, 'tensors.bin'));
  if (bin.byteLength !== s.bytes) throw new Error(`${dir}/tensors.bin: ${bin.byteLength} bytes, state.json says ${s.bytes}`);
  if (crc32c(bin) !== s.crc32c) throw new Error(`${dir}/tensors.bin: CRC32C mismatch (corrupted checkpoint)`);
  const tensors = new Map<string, NamedArray>();
  for (const t of s.tensorTable) {
    const values = new Float32Array(t.length);
    new Uint8Array(values.buffer).set(bin.subarray(t.offset, t.offset + t.length * 4));
    tensors.set(t.name, { shape: t.shape, values });
  }
  const { format: _f, version: _v, tensorTable: _t, bytes: _b, crc32c: _c, ...state } = s;
  return { dir, state, tensors };
}

/** Step-numbered checkpoints in `root`, newest first. */
export function listCheckpoints(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((n) => NAME.test(n))
    .sort()
    .reverse()
    .map((n) => path.join(root, n));
}

/** Newest checkpoint that loads and verifies; damaged ones are reported through `warn` and skipped. */
export function latestCheckpoint(root: string, warn: (msg: string) => void = console.warn): Checkpoint | null {
  for (const dir of listCheckpoints(root)) {
    try {
      return loadCheckpoint(dir);
    } catch (e) {
      warn(`skipping checkpoint ${dir}: ${(e as Error).message}`);
    }
  }
  return null;
}

/** Keeps the newest `keepLast` step checkpoints (the `best` copy is separate) and clears temporaries of killed runs. */
export function pruneCheckpoints(root: string, keepLast: number): void {
  for (const dir of listCheckpoints(root).slice(Math.max(1, keepLast))) fs.rmSync(dir, { recursive: true, force: true });
  for (const n of fs.readdirSync(root)) {
    if (/^\..*\.(tmp|old)-\d+$/.test(n) && !n.endsWith(`-${process.pid}`)) fs.rmSync(path.join(root, n), { recursive: true, force: true });
  }
}
