/**
 * The inference model as the GUIE scorer calls it, built once as a graph of TF ops:
 *   uint8 [B,H,W,3] any size -> the training side's Pillow resize (+ centre crop) and normalisation,
 *   bit for bit -> CLIP ViT image tower (or a tfjs graph-model CNN) -> Dense(64) -> L2 norm
 * Outputs `embedding` and `embedding_norm` (the host baseline's two keys; which one the scorer
 * read is unconfirmed, so both carry the unit-norm vector) under `serving_default`.
 * Weights arrive with OpenCLIP names (without the `visual.` prefix) in PyTorch layouts and are
 * re-laid out by model/vit-layout.ts's permutations for TF's NHWC / [in,out] conventions.
 */
import type { VitConfig } from '../model/vit-config';
import type { Preprocess } from '../core/preprocess';
import { gridSize } from '../model/vit-config';
import { CONV_TO_TF, LINEAR_TO_TF, permuted } from '../model/vit-layout';
import type { Graph, GraphAbout, HostTensor } from './graph';
import { f32, GraphBuilder } from './graph';
import { preprocessGraph } from './preprocess-graph';
import { importTfjsGraphModel, type TfjsGraphModelJson } from './tfjs-import';

export const INPUT_KEY = 'image_tensor';
export const OUTPUT_KEYS = ['embedding', 'embedding_norm'] as const;

/** Weights by OpenCLIP name (`conv1.weight`, `transformer.resblocks.0.attn.in_proj_weight`, ...) plus the head's `head.proj.weight`/`head.proj.bias` (model/heads.ts). */
export type NamedWeights = Map<string, HostTensor>;

function get(w: NamedWeights, name: string, shape: number[]): HostTensor {
  const t = w.get(name);
  if (!t) throw new Error(`weights: missing "${name}"`);
  if (t.shape.join(',') !== shape.join(',')) throw new Error(`weights: "${name}" has shape [${t.shape}], expected [${shape}]`);
  return t;
}

/** Rows [start, start+count) of a [rows, cols] matrix (or a slice of a vector). */
function rows(t: HostTensor, start: number, count: number): HostTensor {
  const cols = t.shape.length === 2 ? t.shape[1] : 1;
  return f32(t.data.subarray(start * cols, (start + count) * cols) as Float32Array, t.shape.length === 2 ? [count, cols] : [count]);
}

/** A PyTorch-layout weight in TF's layout by `perm` (vit-layout.ts), as a float32 graph tensor. */
function tfLayout(t: HostTensor, perm: number[]): HostTensor {
  const w = permuted({ data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data), shape: t.shape }, perm);
  return { dtype: 'float32', shape: w.shape, data: w.data };
}

function layerNorm(g: GraphBuilder, x: string, w: NamedWeights, prefix: string, width: number, eps: number): string {
  return g.scope(prefix, () => {
    const mu = g.mean(x, [-1], true);
    const d = g.sub(x, mu);
    const variance = g.mean(g.square(d), [-1], true, 'variance');
    const y = g.mul(d, g.rsqrt(g.add(variance, g.scalar(eps, 'eps'))));
    return g.add(g.mul(y, g.weight(`${prefix}.weight`, get(w, `${prefix}.weight`, [width]))), g.weight(`${prefix}.bias`, get(w, `${prefix}.bias`, [width])));
  });
}

/** x [n, in] @ W^T + b with PyTorch's W [out, in]. */
function linear(g: GraphBuilder, x: string, name: string, weight: HostTensor, bias: HostTensor): string {
  return g.add(g.matMul(x, g.weight(`${name}.weight`, tfLayout(weight, LINEAR_TO_TF))), g.weight(`${name}.bias`, bias));
}

function gelu(g: GraphBuilder, x: string, act: VitConfig['act']): string {
  return g.scope(act, () => {
    if (act === 'quick_gelu') return g.mul(x, g.sigmoid(g.mul(x, g.scalar(1.702))));
    const cdf = g.add(g.scalar(1), g.erf(g.mul(x, g.scalar(Math.SQRT1_2))));
    return g.mul(g.mul(x, g.scalar(0.5)), cdf);
  });
}

/** One pre-norm residual block on tokens laid out [B*N, width]. */
function resblock(g: GraphBuilder, x: string, w: NamedWeights, i: number, cfg: VitConfig, n: number): string {
  const p = `transformer.resblocks.${i}`;
  const width = cfg.width;
  const hd = width / cfg.heads;
  const inW = get(w, `${p}.attn.in_proj_weight`, [3 * width, width]);
  const inB = get(w, `${p}.attn.in_proj_bias`, [3 * width]);
  const h = layerNorm(g, x, w, `${p}.ln_1`, width, cfg.layerNormEps);
  const attn = g.scope(`${p}.attn`, () => {
    // q, k, v as three matmuls: [B*N,w] -> [B,H,N,hd]
    const heads = (k: number, name: string): string =>
      g.transpose(g.reshape(linear(g, h, `${p}.attn.${name}_proj`, rows(inW, k * width, width), rows(inB, k * width, width)), [-1, n, cfg.heads, hd]), [0, 2, 1, 3]);
    const q = g.mul(heads(0, 'q'), g.scalar(1 / Math.sqrt(hd), 'scale'));
    const scores = g.softmax(g.batchMatMul(q, heads(1, 'k'), { adjY: true }));
    const ctx = g.reshape(g.transpose(g.batchMatMul(scores, heads(2, 'v')), [0, 2, 1, 3]), [-1, width]);
    return linear(g, ctx, `${p}.attn.out_proj`, get(w, `${p}.attn.out_proj.weight`, [width, width]), get(w, `${p}.attn.out_proj.bias`, [width]));
  });
  const x1 = g.add(x, attn, `${p}/residual_attn`);
  const h2 = layerNorm(g, x1, w, `${p}.ln_2`, width, cfg.layerNormEps);
  const mlp = g.scope(`${p}.mlp`, () => {
    const hidden = cfg.mlpRatio * width;
    const fc = linear(g, h2, `${p}.mlp.c_fc`, get(w, `${p}.mlp.c_fc.weight`, [hidden, width]), get(w, `${p}.mlp.c_fc.bias`, [hidden]));
    return linear(g, gelu(g, fc, cfg.act), `${p}.mlp.c_proj`, get(w, `${p}.mlp.c_proj.weight`, [width, hidden]), get(w, `${p}.mlp.c_proj.bias`, [width]));
  });
  return g.add(x1, mlp, `${p}/residual_mlp`);
}

/** OpenCLIP VisionTransformer (class-token pooling) on normalised NHWC pixels -> [B, featureDim]. */
export function clipVisionGraph(g: GraphBuilder, pixels: string, cfg: VitConfig, w: NamedWeights): string {
  const gs = gridSize(cfg);
  const n = gs * gs + 1;
  const width = cfg.width;
  const conv = get(w, 'conv1.weight', [width, 3, cfg.patchSize, cfg.patchSize]);
  const patches = g.conv2d(pixels, g.weight('conv1.weight', tfLayout(conv, CONV_TO_TF)), [cfg.patchStride, cfg.patchStride], 'VALID', 'conv1');
  const tokens = g.reshape(patches, [-1, gs * gs, width], 'patch_tokens');
  // class token broadcast to the batch: 0 * (first patch token) + class_embedding
  const first = g.slice(tokens, [0, 0, 0], [-1, 1, -1], 'first_token');
  const cls = g.add(g.mul(first, g.scalar(0, 'zero')), g.weight('class_embedding', f32(get(w, 'class_embedding', [width]).data, [1, 1, width])), 'class_token');
  const seq = g.add(g.concat([cls, tokens], 1), g.weight('positional_embedding', f32(get(w, 'positional_embedding', [n, width]).data, [1, n, width])), 'add_pos');
  let x = layerNorm(g, g.reshape(seq, [-1, width], 'flatten_tokens'), w, 'ln_pre', width, cfg.layerNormEps);
  for (let i = 0; i < cfg.layers; i++) x = resblock(g, x, w, i, cfg, n);
  const pooled = g.reshape(g.slice(g.reshape(x, [-1, n, width], 'tokens'), [0, 0, 0], [-1, 1, -1], 'cls_token'), [-1, width], 'pooled');
  const out = layerNorm(g, pooled, w, 'ln_post', width, cfg.layerNormEps);
  return cfg.outputDim === null ? out : g.matMul(out, g.weight('proj', get(w, 'proj', [width, cfg.outputDim])), {}, 'proj');
}

/** Dense(dim) then L2 normalisation as tf.math.l2_normalize (epsilon 1e-12 on the squared norm). */
export function embeddingHead(g: GraphBuilder, features: string, inDim: number, w: NamedWeights): { embedding: string; dim: number } {
  const weight = w.get('head.proj.weight');
  if (!weight || weight.shape.length !== 2 || weight.shape[1] !== inDim) throw new Error(`weights: "head.proj.weight" must be [dim, ${inDim}], got ${weight ? `[${weight.shape}]` : 'nothing'}`);
  const dim = weight.shape[0];
  return g.scope('head', () => {
    // the graph's variables keep Keras' names and [in, dim] kernel, as TF users of a SavedModel expect
    const y = g.biasAdd(g.matMul(features, g.weight('head.kernel', tfLayout(weight, LINEAR_TO_TF))), g.weight('head.bias', get(w, 'head.proj.bias', [dim])));
    const sq = g.sum(g.square(y), [-1], true, 'sum_sq');
    return { embedding: g.mul(y, g.rsqrt(g.maximum(sq, g.scalar(1e-12, 'epsilon'))), 'l2_normalize'), dim };
  });
}

export interface InferenceGraphOptions {
  preprocess?: Partial<Preprocess>;
}

function finish(g: GraphBuilder, image: string, embedding: string, dim: number, about: GraphAbout): Graph {
  const out = { dtype: 'float32' as const, shape: [-1, dim] };
  const graph = g.build(
    { [INPUT_KEY]: { name: `${image}:0`, dtype: 'uint8', shape: [-1, -1, -1, 3] } },
    { embedding: { name: `${g.identity(embedding, 'embedding')}:0`, ...out }, embedding_norm: { name: `${g.identity(embedding, 'embedding_norm')}:0`, ...out } },
  );
  return { ...graph, about };
}

/** A tfjs graph-model backbone (e.g. the packaged MobileNetV2 of lib/model/cnn/) cut at `outputNode`, plus the head. */
export interface GraphModelBackbone {
  name: string;
  model: TfjsGraphModelJson;
  weightData: ArrayBuffer;
  outputNode: string;
  featureDim: number;
  preprocess: Preprocess;
}

/** The whole scorer-facing model for a tfjs graph-model backbone: fused ops come out unfused. */
export function graphModelInferenceGraph(backbone: GraphModelBackbone, head: NamedWeights): Graph {
  const g = new GraphBuilder();
  const image = g.placeholder(INPUT_KEY, 'uint8', [-1, -1, -1, 3]);
  const pixels = preprocessGraph(g, image, backbone.preprocess);
  const features = g.scope('backbone', () => importTfjsGraphModel(g, backbone.model, backbone.weightData, { input: pixels, outputNode: backbone.outputNode }));
  const { embedding, dim } = embeddingHead(g, features, backbone.featureDim, head);
  return finish(g, image, embedding, dim, { backbone: backbone.name, preprocess: backbone.preprocess });
}

/** The whole scorer-facing model for a CLIP ViT backbone (its own CLIP eval preprocessing unless told otherwise). */
export function clipInferenceGraph(cfg: VitConfig, weights: NamedWeights, opts: InferenceGraphOptions = {}): Graph {
  const g = new GraphBuilder();
  const p: Preprocess = { ...cfg.preprocess, ...opts.preprocess };
  const image = g.placeholder(INPUT_KEY, 'uint8', [-1, -1, -1, 3]);
  const pixels = preprocessGraph(g, image, p);
  const features = g.scope('visual', () => g.withWeightPrefix('visual.', () => clipVisionGraph(g, pixels, cfg, weights)));
  const { embedding, dim } = embeddingHead(g, features, cfg.outputDim ?? cfg.width, weights);
  return finish(g, image, embedding, dim, { backbone: cfg.name, preprocess: p });
}
