/**
 * The on-disk cache of a packaged CNN: decoded once from the package, truncated at its feature
 * node, dequantised to float32 and stored as a tfjs graph model (`model.json` GraphDef JSON +
 * `weights.bin`), so the exporter reads one format. Later loads read the cache, checked against a
 * SHA-256 of the weights and the package version.
 */
import type * as tf from '@tensorflow/tfjs';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { replaceDirAtomic } from '../../util/atomic';
import type { Preprocess } from '../../core/preprocess';
import { truncateGraph } from './graph-cut';
import { kerasToGraph } from './keras-to-graphdef';
import { packageArtifacts, sourceId } from './nsfwjs-package';
import type { PackagedCnnSpec } from './registry';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
/** Bump when the cache layout or truncation changes: old caches are then rebuilt. */
const CACHE_VERSION = 2;

/** What the cache records about itself (model.json `userDefinedMetadata.guie`). */
export interface CacheMeta {
  cacheVersion: number;
  backbone: string;
  source: string;
  /** Graph node names of the input placeholder and the feature vector. */
  inputNode: string;
  outputNode: string;
  featureDim: number;
  preprocess: Preprocess;
  weightsSha256: string;
  weightsBytes: number;
}

export class BackboneCacheError extends Error {
  constructor(
    readonly dir: string,
    detail: string,
  ) {
    super(`backbone cache ${dir}: ${detail}`);
    this.name = 'BackboneCacheError';
  }
}

interface CacheContents {
  json: tf.io.ModelJSON;
  weights: Buffer;
}

/** Decodes the packaged model and returns the truncated float32 graph-model cache contents (no files touched). */
export async function buildCacheContents(spec: PackagedCnnSpec): Promise<CacheContents> {
  const art = packageArtifacts(spec);
  const cut = spec.packageFormat === 'graph-model' ? truncateGraph(spec, art) : await kerasToGraph(spec, art);
  // Written by hand rather than tf.io.encodeWeights, whose instanceof checks fail on typed arrays from another realm (jest, tfjs-node).
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Buffer[] = [];
  for (const [name, t] of cut.consts) {
    if (t.dtype !== 'float32' && t.dtype !== 'int32') throw new Error(`${spec.name}: Const "${name}" has dtype ${t.dtype} (float32 and int32 supported)`);
    specs.push({ name, shape: t.shape, dtype: t.dtype });
    chunks.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  const weights = Buffer.concat(chunks);
  const meta: CacheMeta = {
    cacheVersion: CACHE_VERSION,
    backbone: spec.name,
    source: sourceId(spec),
    inputNode: cut.inputNode,
    outputNode: cut.outputNode,
    featureDim: spec.featureDim,
    preprocess: spec.preprocess,
    weightsSha256: createHash('sha256').update(weights).digest('hex'),
    weightsBytes: weights.length,
  };
  const size = String(spec.preprocess.imageSize);
  const signature = {
    inputs: { [`${cut.inputNode}:0`]: { name: `${cut.inputNode}:0`, dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size }, { size }, { size: '3' }] } } },
    outputs: { [`${cut.outputNode}:0`]: { name: `${cut.outputNode}:0`, dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: String(spec.featureDim) }] } } },
  };
  const json: tf.io.ModelJSON = {
    format: 'graph-model',
    generatedBy: `guie-ts packaged-cnn from ${meta.source}`,
    convertedBy: null,
    modelTopology: { node: cut.nodes, versions: cut.versions },
    userDefinedMetadata: { signature, guie: meta as unknown as Record<string, unknown> },
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: specs }],
  };
  return { json, weights };
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

function specBytes(s: tf.io.WeightsManifestEntry): number {
  const n = s.shape.reduce((a, b) => a * b, 1);
  return n * DTYPE_BYTES[s.quantization?.dtype ?? s.dtype];
}

export interface CachedModel {
  dir: string;
  modelJsonPath: string;
  json: tf.io.ModelJSON;
  meta: CacheMeta;
  weights: Buffer;
}

/**
 * Reads and checks a cache directory; throws BackboneCacheError saying what is wrong
 * (missing, bad JSON, other backbone or package version, weight size or checksum mismatch).
 */
export function readCache(spec: PackagedCnnSpec, dir: string): CachedModel {
  const modelJsonPath = path.join(dir, MODEL_JSON);
  const binPath = path.join(dir, WEIGHTS_BIN);
  if (!fs.existsSync(modelJsonPath)) throw new BackboneCacheError(dir, `${MODEL_JSON} is missing`);
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
  } catch (e) {
    throw new BackboneCacheError(dir, `${MODEL_JSON} is not valid JSON (${(e as Error).message})`);
  }
  const meta = (json.userDefinedMetadata as { guie?: CacheMeta } | undefined)?.guie;
  if (!meta || !json.modelTopology || !Array.isArray(json.weightsManifest)) throw new BackboneCacheError(dir, `${MODEL_JSON} lacks modelTopology, weightsManifest or guie metadata`);
  if (meta.cacheVersion !== CACHE_VERSION) throw new BackboneCacheError(dir, `cache version ${meta.cacheVersion}, expected ${CACHE_VERSION}`);
  if (meta.backbone !== spec.name) throw new BackboneCacheError(dir, `holds backbone "${meta.backbone}", expected "${spec.name}"`);
  const source = sourceId(spec);
  if (meta.source !== source) throw new BackboneCacheError(dir, `built from ${meta.source}, installed package is ${source}`);
  if (!fs.existsSync(binPath)) throw new BackboneCacheError(dir, `${WEIGHTS_BIN} is missing`);
  const weights = fs.readFileSync(binPath);
  const expected = json.weightsManifest.flatMap((g) => g.weights).reduce((a, s) => a + specBytes(s), 0);
  if (weights.length !== expected || weights.length !== meta.weightsBytes) {
    throw new BackboneCacheError(dir, `${WEIGHTS_BIN} has ${weights.length} bytes, the manifest describes ${expected} (recorded ${meta.weightsBytes})`);
  }
  const sha = createHash('sha256').update(weights).digest('hex');
  if (sha !== meta.weightsSha256) throw new BackboneCacheError(dir, `${WEIGHTS_BIN} checksum ${sha.slice(0, 12)}... differs from the recorded ${meta.weightsSha256.slice(0, 12)}...`);
  return { dir, modelJsonPath, json, meta, weights };
}

/** Writes the cache directory atomically (a killed build leaves the old cache or none). */
export async function writeCache(spec: PackagedCnnSpec, dir: string): Promise<void> {
  const { json, weights } = await buildCacheContents(spec);
  replaceDirAtomic(dir, (tmp) => {
    fs.writeFileSync(path.join(tmp, WEIGHTS_BIN), weights);
    fs.writeFileSync(path.join(tmp, MODEL_JSON), JSON.stringify(json));
  });
}

export type CacheLog = (message: string) => void;

/** A valid cache, rebuilt from the package when missing or corrupt (saying why). */
export async function ensureCache(spec: PackagedCnnSpec, dir: string, log: CacheLog = (m) => console.warn(m)): Promise<CachedModel> {
  try {
    return readCache(spec, dir);
  } catch (e) {
    if (!(e instanceof BackboneCacheError)) throw e;
    if (fs.existsSync(dir)) log(`${e.message}; rebuilding from ${sourceId(spec)}`);
    else log(`${spec.name}: decoding ${sourceId(spec)} into ${dir} (once)`);
  }
  try {
    await writeCache(spec, dir);
  } catch (e) {
    // Another process may have swapped in its own build a moment earlier: use it if it is sound.
    try {
      return readCache(spec, dir);
    } catch {
      throw e;
    }
  }
  return readCache(spec, dir);
}
