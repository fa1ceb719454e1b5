/**
 * The whitened PCA fitted on a run's training features (of the untrained backbone), kept beside the
 * model it was trained with: `guie train` and the main job write it into the run folder, `guie export`
 * copies it beside export.json, and `guie eval --model` / the jig report score it as the
 * "whitened PCA-64 fitted on the training data" baseline, the one the trained head must beat.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeJsonAtomic } from '../util/atomic';
import type { Pca } from './pca';

export const TRAIN_WHITENING = 'train-whitening.json';

export interface TrainWhitening {
  /** The backbone whose untrained features it was fitted on. */
  backbone: string;
  /** Training rows it was fitted on. */
  rows: number;
  /** The feature cache key of those rows (data, backbone, pixels): a checkpoint recording another key is another run's. */
  featureKey?: string;
  pca: Pca;
}

interface WhiteningJson {
  kind: 'guie-train-whitening';
  backbone: string;
  rows: number;
  featureKey?: string;
  dim: number;
  k: number;
  /** Float32 little-endian, base64. */
  mean: string;
  components: string;
  variances: string;
}

const b64 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

function floats(file: string, field: string, s: unknown, n: number): Float32Array {
  if (typeof s !== 'string') throw new Error(`${file}: "${field}" is not a base64 string (re-run training or delete the file)`);
  const bytes = Buffer.from(s, 'base64');
  if (bytes.length !== n * 4) throw new Error(`${file}: "${field}" holds ${bytes.length} bytes, expected ${n * 4} (${n} floats): the file is damaged (re-run training or delete it)`);
  const out = new Float32Array(n);
  new Uint8Array(out.buffer).set(bytes);
  if (!out.every(Number.isFinite)) throw new Error(`${file}: "${field}" holds non-finite values (re-run training or delete the file)`);
  return out;
}

export function writeTrainWhitening(dir: string, w: TrainWhitening): string {
  const file = path.join(dir, TRAIN_WHITENING);
  const json: WhiteningJson = { kind: 'guie-train-whitening', backbone: w.backbone, rows: w.rows, ...(w.featureKey ? { featureKey: w.featureKey } : {}), dim: w.pca.dim, k: w.pca.k, mean: b64(w.pca.mean), components: b64(w.pca.components), variances: b64(w.pca.variances) };
  writeJsonAtomic(file, json);
  return file;
}

/** The whitening in `dir`, null when there is none; a damaged file is an error naming it. */
export function readTrainWhitening(dir: string): TrainWhitening | null {
  const file = path.join(dir, TRAIN_WHITENING);
  if (!fs.existsSync(file)) return null;
  let j: Partial<WhiteningJson>;
  try {
    j = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<WhiteningJson>;
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message}): the file is damaged (re-run training or delete it)`);
  }
  if (j.kind !== 'guie-train-whitening') throw new Error(`${file}: kind ${JSON.stringify(j.kind)}, expected "guie-train-whitening"`);
  const { dim, k, rows, backbone } = j;
  if (!Number.isInteger(dim) || !Number.isInteger(k) || !Number.isInteger(rows) || dim! < 1 || k! < 1 || k! > dim! || typeof backbone !== 'string') {
    throw new Error(`${file}: backbone/rows/dim/k are missing or out of range (re-run training or delete the file)`);
  }
  const pca: Pca = { dim: dim!, k: k!, mean: floats(file, 'mean', j.mean, dim!), components: floats(file, 'components', j.components, dim! * k!), variances: floats(file, 'variances', j.variances, k!) };
  if (!pca.variances.every((v) => v > 0)) throw new Error(`${file}: "variances" must be positive to whiten (re-run training or delete the file)`);
  return { backbone, rows: rows!, ...(typeof j.featureKey === 'string' ? { featureKey: j.featureKey } : {}), pca };
}

/**
 * The whitening of the run that wrote `checkpoint`: the checkpoint folder and the folders above it up to
 * the run's root (the first holding run.json; at most three up). One fitted on other features than the
 * checkpoint records (`featureKey`) is another run's and is not taken. Null when there is none.
 */
export function findTrainWhitening(checkpoint: string, featureKey?: string): TrainWhitening | null {
  let dir = path.resolve(checkpoint);
  for (let up = 0; up < 4; up++, dir = path.dirname(dir)) {
    const w = readTrainWhitening(dir);
    if (w && (!featureKey || !w.featureKey || w.featureKey === featureKey)) return w;
    if (fs.existsSync(path.join(dir, 'run.json'))) break;
  }
  return null;
}

/** As readTrainWhitening / findTrainWhitening, but a damaged file is one warning naming it, not an error: it only feeds a baseline column. */
export function trainWhiteningOrWarn(read: () => TrainWhitening | null, warn: (message: string) => void = (m) => console.warn(m)): TrainWhitening | null {
  try {
    return read();
  } catch (e) {
    warn(`${(e as Error).message}; the training-whitening baseline is left out`);
    return null;
  }
}
