/**
 * Offline pretrained CNNs from the npm package `nsfwjs` (its models ship as JS modules holding
 * base64 weight shards). Only the ImageNet-initialised lower parts are kept: the upper,
 * NSFW-tuned layers retrieve poorly. Each model is decoded once, truncated at its feature node,
 * dequantised to float32 and cached as a tfjs graph model (`model.json` GraphDef JSON +
 * `weights.bin`); the Keras InceptionV3 is converted on the way into plain TF ops with its
 * BatchNormalization folded, so the exporter reads one format. Later loads read the cache
 * (checked against a SHA-256 of the weights and the package version).
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { replaceDirAtomic } from '../util/atomic';
import { replaceGraphWeights } from './cnn-graph';
import type { Preprocess } from './vit-config';

export interface PackagedCnnSpec {
  name: string;
  description: string;
  /** Folder under nsfwjs/dist/models. */
  packageModel: 'mobilenet_v2_mid' | 'inception_v3';
  /** How the package stores it; the cache is always a graph model. */
  packageFormat: 'graph-model' | 'layers-model';
  /** Graph models: the node whose output is the feature vector. Layers models: the layer that is globally average-pooled. */
  featureNode: string;
  featureDim: number;
  preprocess: Preprocess;
  /** Fine-tuning cuts: blockInputs[k-1] is the node feeding the last k blocks (a single tensor; everything before it stays frozen). */
  blockInputs: string[];
  /** Graph models: generalized-mean (GeM) pooling of this node's map, mean(max(x, eps)^p)^(1/p) over H and W, in place of featureNode. */
  gem?: { mapNode: string; p: number };
}

/** The output node of the GeM pooling a spec's `gem` appends to the cut graph. */
export const GEM_NODE = 'guie_gem/pooled';

const MNV2 = 'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict';

export const PACKAGED_CNNS: Record<string, PackagedCnnSpec> = {
  /** TF-Hub MobileNetV2-1.4 feature vector (after global average pooling), before nsfwjs' Dense head. */
  mobilenet_v2_140: {
    name: 'mobilenet_v2_140',
    description: 'MobileNetV2 1.4 (ImageNet) feature vector, 224 px, 1792-d; nsfwjs mobilenet_v2_mid',
    packageModel: 'mobilenet_v2_mid',
    packageFormat: 'graph-model',
    featureNode: `${MNV2}/feature_vector/SpatialSqueeze`,
    featureDim: 1792,
    blockInputs: ['expanded_conv_16/project/BatchNorm/FusedBatchNormV3', 'expanded_conv_15/add', 'expanded_conv_14/add', 'expanded_conv_13/project/BatchNorm/FusedBatchNormV3'].map((n) => `${MNV2}/MobilenetV2/${n}`),
    // The graph maps [0,1] to [-1,1] itself (hub_input/Mul, hub_input/Sub).
    preprocess: { imageSize: 224, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bilinear' },
  },
  /** Keras InceptionV3 up to mixed5 (never fine-tuned by nsfwjs) + global average pooling. */
  inception_v3_mixed5: {
    name: 'inception_v3_mixed5',
    description: 'InceptionV3 (ImageNet) mixed5 + global average pooling, 299 px, 768-d; nsfwjs inception_v3',
    packageModel: 'inception_v3',
    packageFormat: 'layers-model',
    featureNode: 'mixed5',
    featureDim: 768,
    blockInputs: ['mixed4/concat', 'mixed3/concat'],
    // [0,1] as nsfwjs feeds it: on the sample data it retrieved better than Keras' [-1,1] (raw mP@5 0.645 vs 0.505).
    preprocess: { imageSize: 299, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bilinear' },
  },
  /** The same MobileNetV2 with GeM (p = 3) in place of its average pooling: whitened PCA-64 on the training rows scores 0.694 vs 0.673 left-one-domain-out (bench/feature-variants.ts). */
  mobilenet_v2_140_gem: {
    name: 'mobilenet_v2_140_gem',
    description: 'MobileNetV2 1.4 (ImageNet), GeM (p=3) pooling of its last 7x7x1792 map, 224 px, 1792-d; nsfwjs mobilenet_v2_mid',
    packageModel: 'mobilenet_v2_mid',
    packageFormat: 'graph-model',
    featureNode: GEM_NODE,
    featureDim: 1792,
    blockInputs: ['expanded_conv_16/project/BatchNorm/FusedBatchNormV3', 'expanded_conv_15/add', 'expanded_conv_14/add', 'expanded_conv_13/project/BatchNorm/FusedBatchNormV3'].map((n) => `${MNV2}/MobilenetV2/${n}`),
    gem: { mapNode: `${MNV2}/MobilenetV2/Conv_1/Relu6`, p: 3 },
    preprocess: { imageSize: 224, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bilinear' },
  },
};

/** Converted layers models end in this global-average-pooling node (a Mean over H, W); its output is the feature. */
export const POOL_NODE = 'global_average_pooling/Mean';
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

function nsfwjsRoot(): { root: string; version: string } {
  let dir = path.dirname(require.resolve('nsfwjs'));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      const json = JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
      if (json.name === 'nsfwjs') return { root: dir, version: json.version ?? 'unknown' };
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the nsfwjs package root (is nsfwjs installed?)');
    dir = up;
  }
}

export function sourceId(spec: PackagedCnnSpec): string {
  // the pooling a spec appends is part of what the cache holds: another p or map node rebuilds it
  return `nsfwjs@${nsfwjsRoot().version}/${spec.packageModel}${spec.gem ? `+gem(p=${spec.gem.p} at ${spec.gem.mapNode.split('/').slice(-2).join('/')})` : ''}`;
}

/** The package's UMD modules export their payload as `default` (or directly). */
function requirePayload<T>(file: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as { default?: T } & T;
  return mod.default ?? mod;
}

/** Reads the packaged model: topology from model.min.js, weights from the base64 shards. */
export function packageArtifacts(spec: PackagedCnnSpec): tf.io.ModelArtifacts {
  const dir = path.join(nsfwjsRoot().root, 'dist', 'models', spec.packageModel);
  const json = requirePayload<tf.io.ModelJSON>(path.join(dir, 'model.min.js'));
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Buffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) chunks.push(Buffer.from(requirePayload<string>(path.join(dir, `${p}.min.js`)), 'base64'));
  }
  const all = Buffer.concat(chunks);
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    userDefinedMetadata: json.userDefinedMetadata,
    weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
}

interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
  device?: string;
}
interface GraphDefJson {
  node: GraphNode[];
  versions?: unknown;
  library?: unknown;
}

/** Node names `output` depends on (inputs are "name", "name:1" or "^control"). */
function ancestors(nodes: GraphNode[], output: string): Set<string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const keep = new Set<string>();
  const stack = [output];
  while (stack.length) {
    const name = stack.pop()!;
    if (keep.has(name)) continue;
    const node = byName.get(name);
    if (!node) throw new Error(`graph has no node "${name}"`);
    keep.add(name);
    for (const i of node.input ?? []) stack.push(i.replace(/^\^/, '').replace(/:\d+$/, ''));
  }
  return keep;
}

interface CacheContents {
  json: tf.io.ModelJSON;
  weights: Buffer;
}

/** A GraphDef (tfjs JSON form) with its Const values: what the cache stores. */
interface GraphCut {
  nodes: GraphNode[];
  versions?: unknown;
  /** Const node name -> value (float32 or int32), in manifest order. */
  consts: Map<string, tf.Tensor>;
  inputNode: string;
  outputNode: string;
}

/** Graph model cut at spec.featureNode (or at spec.gem's map, GeM-pooled): only its ancestors and their (dequantised) weights remain. */
function truncateGraph(spec: PackagedCnnSpec, art: tf.io.ModelArtifacts): GraphCut {
  const graph = art.modelTopology as GraphDefJson;
  const keep = ancestors(graph.node, spec.gem?.mapNode ?? spec.featureNode);
  const nodes = graph.node.filter((n) => keep.has(n.name));
  const inputs = nodes.filter((n) => n.op === 'Placeholder');
  if (inputs.length !== 1) throw new Error(`${spec.name}: expected one input placeholder, found ${inputs.length}`);
  const tensors = tf.io.decodeWeights(art.weightData!, art.weightSpecs!);
  const consts = new Map<string, tf.Tensor>();
  for (const [name, t] of Object.entries(tensors)) {
    if (keep.has(name)) consts.set(name, t);
    else t.dispose();
  }
  if (spec.gem) nodes.push(...gemNodes(spec.gem, consts));
  return { nodes, versions: graph.versions, consts, inputNode: inputs[0].name, outputNode: spec.gem ? GEM_NODE : spec.featureNode };
}

/** GeM over H and W as plain TF ops (Maximum, Pow, Mean, Pow): tfjs, the fine-tuning graph runner, SavedModel and ONNX all read them. */
function gemNodes(gem: { mapNode: string; p: number }, consts: Map<string, tf.Tensor>): GraphNode[] {
  const T = { type: 'DT_FLOAT' };
  const constant = (name: string, t: tf.Tensor): GraphNode => {
    consts.set(name, t);
    const dtype = t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT';
    return { name, op: 'Const', attr: { value: { tensor: { dtype, tensorShape: { dim: t.shape.map((d) => ({ size: String(d) })) } } }, dtype: { type: dtype } } };
  };
  const at = (n: string) => `guie_gem/${n}`;
  return [
    constant(at('eps'), tf.scalar(1e-6)),
    constant(at('p'), tf.scalar(gem.p)),
    constant(at('inv_p'), tf.scalar(1 / gem.p)),
    constant(at('axes'), tf.tensor1d([1, 2], 'int32')),
    { name: at('clamped'), op: 'Maximum', input: [gem.mapNode, at('eps')], attr: { T } },
    { name: at('powered'), op: 'Pow', input: [at('clamped'), at('p')], attr: { T } },
    { name: at('mean'), op: 'Mean', input: [at('powered'), at('axes')], attr: { T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } },
    { name: GEM_NODE, op: 'Pow', input: [at('mean'), at('inv_p')], attr: { T } },
  ];
}

// GraphDef JSON attribute helpers (tfjs converter conventions: strings base64, ints as decimal strings).
const T_FLOAT = { type: 'DT_FLOAT' };
const str = (v: string) => ({ s: Buffer.from(v).toString('base64') });
const ints = (v: number[]) => ({ list: { i: v.map(String) } });
const nhwc = (v: [number, number]) => ints([1, v[0], v[1], 1]);

interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown> & { padding?: string; strides?: [number, number]; pool_size?: [number, number]; activation?: string; axis?: number; epsilon?: number; use_bias?: boolean };
  inbound_nodes: Array<Array<[string, number, number, unknown]>>;
}

/**
 * Keras functional model (Conv2D, BatchNormalization, Activation, pooling, Concatenate) cut at
 * spec.featureNode -> a GraphDef of standard TF ops with global average pooling on top. Inference
 * BatchNormalization is folded into the preceding convolution (Conv2D + BiasAdd), so the graph
 * runs in tfjs, TF 2.6 and ONNX alike.
 */
async function kerasToGraph(spec: PackagedCnnSpec, art: tf.io.ModelArtifacts): Promise<GraphCut> {
  const model = await tf.loadLayersModel(tf.io.fromMemory(art));
  const topo = art.modelTopology as { model_config: { config: { layers: KerasLayer[] } } };
  const layers = topo.model_config.config.layers;
  const byName = new Map(layers.map((l) => [l.name, l]));
  const inputsOf = (l: KerasLayer) => (l.inbound_nodes[0] ?? []).map((n) => n[0]);
  // Ancestors of the feature layer, kept in the file's (topological) order.
  const keep = new Set<string>();
  const stack = [spec.featureNode];
  while (stack.length) {
    const name = stack.pop()!;
    if (keep.has(name)) continue;
    if (!byName.has(name)) throw new Error(`${spec.name}: model has no layer "${name}"`);
    keep.add(name);
    stack.push(...inputsOf(byName.get(name)!));
  }
  const consumers = new Map<string, number>();
  for (const l of layers) if (keep.has(l.name)) for (const i of inputsOf(l)) consumers.set(i, (consumers.get(i) ?? 0) + 1);

  const nodes: GraphNode[] = [];
  const consts = new Map<string, tf.Tensor>();
  const out = new Map<string, string>(); // layer name -> its output node
  const constNode = (name: string, t: tf.Tensor) => {
    consts.set(name, t);
    nodes.push({ name, op: 'Const', attr: { value: { tensor: { dtype: t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT', tensorShape: { dim: t.shape.map((d) => ({ size: String(d) })) } } }, dtype: { type: t.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' } } });
    return name;
  };
  const layerWeights = (name: string) => new Map(model.getLayer(name).weights.map((w) => [w.originalName.split('/').pop()!, w.read()]));
  let inputNode = '';
  try {
    for (const l of layers) {
      if (!keep.has(l.name)) continue;
      const c = l.config;
      const x = inputsOf(l).map((i) => out.get(i)!);
      const padding = str((c.padding ?? 'valid').toUpperCase());
      switch (l.class_name) {
        case 'InputLayer': {
          const size = spec.preprocess.imageSize;
          inputNode = 'input';
          nodes.push({ name: inputNode, op: 'Placeholder', attr: { dtype: T_FLOAT, shape: { shape: { dim: [-1, size, size, 3].map((d) => ({ size: String(d) })) } } } });
          out.set(l.name, inputNode);
          break;
        }
        case 'Conv2D': {
          if (c.activation !== 'linear') throw new Error(`${spec.name}: ${l.name} has a fused activation ${c.activation}`);
          // Fold the inference BatchNormalization that alone consumes this convolution.
          const bn = layers.find((b) => keep.has(b.name) && b.class_name === 'BatchNormalization' && inputsOf(b)[0] === l.name);
          const fold = bn !== undefined && consumers.get(l.name) === 1;
          const [kernel, bias] = tf.tidy(() => {
            const w = layerWeights(l.name);
            const k = w.get('kernel')!;
            const b = w.get('bias') ?? tf.zeros([k.shape[3] as number]);
            if (!fold || !bn) return [k.clone(), b.clone()];
            const v = layerWeights(bn.name);
            const variance = v.get('moving_variance')!;
            const gamma = v.get('gamma') ?? tf.onesLike(variance);
            const scale = tf.div(gamma, tf.sqrt(tf.add(variance, bn.config.epsilon ?? 1e-3)));
            return [tf.mul(k, scale), tf.add(tf.mul(tf.sub(b, v.get('moving_mean')!), scale), v.get('beta') ?? 0)];
          });
          const conv = `${l.name}/Conv2D`;
          nodes.push({
            name: conv,
            op: 'Conv2D',
            input: [x[0], constNode(`${l.name}/kernel`, kernel)],
            attr: { T: T_FLOAT, strides: nhwc(c.strides ?? [1, 1]), padding, data_format: str('NHWC'), dilations: ints([1, 1, 1, 1]), use_cudnn_on_gpu: { b: true } },
          });
          nodes.push({ name: `${l.name}/BiasAdd`, op: 'BiasAdd', input: [conv, constNode(`${l.name}/bias`, bias)], attr: { T: T_FLOAT, data_format: str('NHWC') } });
          out.set(l.name, `${l.name}/BiasAdd`);
          if (fold) out.set(bn.name, `${l.name}/BiasAdd`);
          break;
        }
        case 'BatchNormalization':
          if (!out.has(l.name)) throw new Error(`${spec.name}: ${l.name} does not follow a convolution it can be folded into`);
          break;
        case 'Activation':
          if (c.activation !== 'relu') throw new Error(`${spec.name}: ${l.name}: activation ${c.activation} is not supported`);
          nodes.push({ name: `${l.name}/Relu`, op: 'Relu', input: x, attr: { T: T_FLOAT } });
          out.set(l.name, `${l.name}/Relu`);
          break;
        case 'MaxPooling2D':
        case 'AveragePooling2D': {
          const op = l.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AvgPool';
          nodes.push({ name: `${l.name}/${op}`, op, input: x, attr: { T: T_FLOAT, ksize: nhwc(c.pool_size!), strides: nhwc(c.strides ?? c.pool_size!), padding, data_format: str('NHWC') } });
          out.set(l.name, `${l.name}/${op}`);
          break;
        }
        case 'Concatenate': {
          if (c.axis !== 3 && c.axis !== -1) throw new Error(`${spec.name}: ${l.name} concatenates on axis ${c.axis}, only channels are supported`);
          const axis = constNode(`${l.name}/axis`, tf.scalar(3, 'int32'));
          nodes.push({ name: `${l.name}/concat`, op: 'ConcatV2', input: [...x, axis], attr: { T: T_FLOAT, N: { i: String(x.length) }, Tidx: { type: 'DT_INT32' } } });
          out.set(l.name, `${l.name}/concat`);
          break;
        }
        default:
          throw new Error(`${spec.name}: layer ${l.name} (${l.class_name}) cannot be converted to a graph`);
      }
    }
    const axes = constNode(`${POOL_NODE}/reduction_indices`, tf.tensor1d([1, 2], 'int32'));
    nodes.push({ name: POOL_NODE, op: 'Mean', input: [out.get(spec.featureNode)!, axes], attr: { T: T_FLOAT, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } });
    return { nodes, versions: { producer: 175 }, consts, inputNode, outputNode: POOL_NODE };
  } catch (e) {
    tf.dispose([...consts.values()]);
    throw e;
  } finally {
    model.dispose();
  }
}

/** Decodes the packaged model and returns the truncated float32 graph-model cache contents (no files touched). */
export async function buildCacheContents(spec: PackagedCnnSpec): Promise<CacheContents> {
  const art = packageArtifacts(spec);
  const cut = spec.packageFormat === 'graph-model' ? truncateGraph(spec, art) : await kerasToGraph(spec, art);
  // Written by hand rather than tf.io.encodeWeights, whose instanceof checks fail on typed arrays from another realm (jest, tfjs-node).
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Buffer[] = [];
  try {
    for (const [name, t] of cut.consts) {
      const v = t.dataSync();
      specs.push({ name, shape: t.shape, dtype: t.dtype as 'float32' | 'int32' });
      chunks.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    }
  } finally {
    tf.dispose([...cut.consts.values()]);
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

export interface LoadedCnn {
  model: tf.GraphModel;
  cache: CachedModel;
  /** The weights the model runs with: the cache's, or a fine-tuned copy. */
  weightData: ArrayBuffer;
  features(x: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

/** Loads the cached graph model into tfjs (building the cache first if needed). */
export async function loadPackagedCnn(spec: PackagedCnnSpec, dir: string, log?: CacheLog, tuned?: ReadonlyMap<string, { values: Float32Array }>): Promise<LoadedCnn> {
  const cache = await ensureCache(spec, dir, log);
  const weightSpecs = cache.json.weightsManifest.flatMap((g) => g.weights);
  const cached = cache.weights.buffer.slice(cache.weights.byteOffset, cache.weights.byteOffset + cache.weights.byteLength) as ArrayBuffer;
  const weightData = tuned && tuned.size > 0 ? replaceGraphWeights(cache.json, cached, tuned) : cached;
  const model = await tf.loadGraphModel(tf.io.fromMemory({ ...cache.json, weightSpecs, weightData } as tf.io.ModelArtifacts));
  const size = spec.preprocess.imageSize;
  const out = cache.meta.outputNode;
  return {
    model,
    cache,
    weightData,
    features: (x) => {
      if (x.shape[1] !== size || x.shape[2] !== size || x.shape[3] !== 3) throw new Error(`${spec.name}: input [${x.shape}] must be NHWC [B, ${size}, ${size}, 3]`);
      return tf.tidy(() => model.execute(x, out) as tf.Tensor2D);
    },
    dispose: () => model.dispose(),
  };
}
