/**
 * The CLIP ViT's weights as data, with no TensorFlow: every parameter's OpenCLIP name and PyTorch
 * shape, the one permutation each takes into TF's layouts (conv1 OIHW -> HWIO, Linear [out, in] ->
 * [in, out]), and seeded random initialisation. The tfjs tower (vit.ts), the safetensors loader
 * (weights.ts) and the export graph (export/inference-graph.ts) all lay weights out through here.
 */
import { inversePermutation, numel, permute, type Shape } from '../core/layout';
import { Rng } from '../util/random';
import { gridSize, type VitConfig } from './vit-config';

/** A weight on the host: row-major float32 values and their shape. */
export interface HostWeight {
  data: Float32Array;
  shape: Shape;
}

/** Every parameter name and PyTorch shape, in open_clip's order: the single source for init, loading, export and summary. */
export function vitParamShapes(cfg: VitConfig): Array<[string, Shape]> {
  const w = cfg.width;
  const hidden = Math.round(w * cfg.mlpRatio);
  const g = gridSize(cfg);
  const out: Array<[string, Shape]> = [
    ['class_embedding', [w]],
    ['positional_embedding', [g * g + 1, w]],
    ['conv1.weight', [w, 3, cfg.patchSize, cfg.patchSize]],
    ['ln_pre.weight', [w]],
    ['ln_pre.bias', [w]],
  ];
  for (let i = 0; i < cfg.layers; i++) {
    const p = `transformer.resblocks.${i}.`;
    out.push(
      [`${p}ln_1.weight`, [w]],
      [`${p}ln_1.bias`, [w]],
      [`${p}attn.in_proj_weight`, [3 * w, w]],
      [`${p}attn.in_proj_bias`, [3 * w]],
      [`${p}attn.out_proj.weight`, [w, w]],
      [`${p}attn.out_proj.bias`, [w]],
      [`${p}ln_2.weight`, [w]],
      [`${p}ln_2.bias`, [w]],
      [`${p}mlp.c_fc.weight`, [hidden, w]],
      [`${p}mlp.c_fc.bias`, [hidden]],
      [`${p}mlp.c_proj.weight`, [w, hidden]],
      [`${p}mlp.c_proj.bias`, [w]],
    );
  }
  out.push(['ln_post.weight', [w]], ['ln_post.bias', [w]]);
  if (cfg.outputDim !== null) out.push(['proj', [w, cfg.outputDim]]);
  return out;
}

/** torch.nn.Linear's weight [out, in] -> TF MatMul's [in, out] (the heads use it too). */
export const LINEAR_TO_TF = [1, 0];
/** torch Conv2d's OIHW -> TF's HWIO. */
export const CONV_TO_TF = [2, 3, 1, 0];

const LINEAR_WEIGHT = /(attn\.in_proj_weight|attn\.out_proj\.weight|mlp\.c_fc\.weight|mlp\.c_proj\.weight)$/;

/** The axes permutation from a parameter's PyTorch layout to TF's (np.transpose order), or null where both agree. */
export function tfPermutation(name: string): number[] | null {
  if (name === 'conv1.weight') return CONV_TO_TF;
  if (LINEAR_WEIGHT.test(name)) return LINEAR_TO_TF;
  return null;
}

/** PyTorch layout -> TF layout (a new array where the layouts differ, the same one otherwise). */
export function toTfLayout(name: string, w: HostWeight): HostWeight {
  const perm = tfPermutation(name);
  return perm ? permuted(w, perm) : w;
}

/** `w` with its axes permuted (np.transpose(w, perm)). */
export function permuted(w: HostWeight, perm: number[]): HostWeight {
  return { data: permute(w.data, w.shape, perm), shape: perm.map((p) => w.shape[p]) };
}

/** TF layout -> PyTorch layout: the inverse of toTfLayout. */
export function fromTfLayout(name: string, w: HostWeight): HostWeight {
  const perm = tfPermutation(name);
  return perm ? permuted(w, inversePermutation(perm)) : w;
}

/**
 * 'openclip': open_clip's own init (LayerNorm 1/0, biases 0, embeddings and proj width^-0.5·N(0,1),
 * other weights N(0, 0.02²)), for training from scratch. 'probe': every value drawn uniformly at
 * fan-in scale, LayerNorms and biases included, so that a parity or oracle test sees a wrong layout
 * or a dropped parameter in any tensor.
 */
export type InitStyle = 'openclip' | 'probe';

function draw(name: string, shape: Shape, cfg: VitConfig, style: InitStyle, r: Rng): Float32Array {
  const out = new Float32Array(numel(shape));
  const layerNormWeight = /(^|\.)ln_\w+\.weight$/.test(name);
  const bias = name.endsWith('bias');
  const embedding = name === 'class_embedding' || name === 'positional_embedding';
  if (style === 'openclip') {
    if (layerNormWeight) return out.fill(1);
    if (bias) return out;
    const std = embedding || name === 'proj' ? cfg.width ** -0.5 : 0.02;
    for (let i = 0; i < out.length; i++) out[i] = std * r.normal();
    return out;
  }
  const [centre, halfWidth] = layerNormWeight ? [1, 0.2] : bias ? [0, 0.1] : embedding ? [0, 0.5] : [0, 1 / Math.sqrt(name === 'proj' ? shape[0] : numel(shape.slice(1)))];
  for (let i = 0; i < out.length; i++) out[i] = centre + (r.float() * 2 - 1) * halfWidth;
  return out;
}

/** Seeded random tower weights in PyTorch layouts, one independent stream per parameter, in vitParamShapes' order. */
export function* randomVitWeights(cfg: VitConfig, seed: number, style: InitStyle): Generator<[string, HostWeight]> {
  let i = 0;
  for (const [name, shape] of vitParamShapes(cfg)) yield [name, { data: draw(name, shape, cfg, style, Rng.derive(seed, i++)), shape }];
}
