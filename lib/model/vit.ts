/**
 * CLIP vision transformer (open_clip's VisionTransformer, 'tok' pooling) in TensorFlow.js.
 * Parameters are tf.Variables keyed by OpenCLIP names without the `visual.` prefix. Files,
 * namedWeights() and the export graph use PyTorch layouts; the variables hold Linear weights as
 * [in, out] and conv1 as HWIO, the layouts tfjs computes fastest with (NHWC input).
 */
import * as tf from '@tensorflow/tfjs';
import { layerNorm, residualAttentionBlock, type BlockParams } from './layers';
import { gridSize, type VitConfig } from './vit-config';

export type Shape = number[];

/** Every parameter name and PyTorch shape, in open_clip's order: the single source for init, loading and summary. */
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

export function numel(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Depth of a parameter for layer-wise lr decay (timm's param_groups_layer_decay): 0 = embeddings, i+1 = block i, layers+1 = head. */
export function layerId(name: string, cfg: VitConfig): number {
  const m = /^transformer\.resblocks\.(\d+)\./.exec(name);
  if (m) return Number(m[1]) + 1;
  if (name.startsWith('ln_post') || name === 'proj') return cfg.layers + 1;
  return 0;
}

export interface ParamGroup {
  /** 'embed', 'block.N' or 'head'. */
  name: string;
  depth: number;
  variables: tf.Variable[];
}

/** Random init in the spirit of open_clip (embeddings scale·N(0,1), linear N(0, 0.02²), LayerNorm 1/0). */
function initTensor(name: string, shape: Shape, cfg: VitConfig, seed: number): tf.Tensor {
  const scale = cfg.width ** -0.5;
  if (/(^|\.)ln_\w+\.weight$/.test(name)) return tf.ones(shape);
  if (name.endsWith('bias')) return tf.zeros(shape);
  if (name === 'class_embedding' || name === 'positional_embedding' || name === 'proj') return tf.randomNormal(shape, 0, scale, 'float32', seed);
  return tf.randomNormal(shape, 0, 0.02, 'float32', seed);
}

const LINEAR_WEIGHT = /(attn\.in_proj_weight|attn\.out_proj\.weight|mlp\.c_fc\.weight|mlp\.c_proj\.weight)$/;

/** PyTorch layout -> our variable layout (conv OIHW -> HWIO, Linear [out, in] -> [in, out]). */
function toInternal(name: string, t: tf.Tensor): tf.Tensor {
  if (name === 'conv1.weight') return tf.transpose(t, [2, 3, 1, 0]);
  if (LINEAR_WEIGHT.test(name)) return tf.transpose(t);
  return tf.clone(t);
}

/** Our variable layout -> PyTorch layout (a new tensor either way). */
function toPytorch(name: string, t: tf.Tensor): tf.Tensor {
  if (name === 'conv1.weight') return tf.transpose(t, [3, 2, 0, 1]);
  if (LINEAR_WEIGHT.test(name)) return tf.transpose(t);
  return tf.clone(t);
}

/** A variable that owns `t`'s data (tf.variable shares the buffer and adds a reference). */
function own(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t);
  t.dispose();
  return v;
}

export class Vit {
  readonly config: VitConfig;
  private readonly params: Map<string, tf.Variable>;

  private constructor(config: VitConfig, params: Map<string, tf.Variable>) {
    this.config = config;
    this.params = params;
  }

  /** Random weights (tests, benchmarks, training from scratch). */
  static random(cfg: VitConfig, seed = 0): Vit {
    const params = new Map<string, tf.Variable>();
    vitParamShapes(cfg).forEach(([name, shape], i) => {
      params.set(name, own(tf.tidy(() => toInternal(name, initTensor(name, shape, cfg, seed * 100_003 + i)))));
    });
    return new Vit(cfg, params);
  }

  /**
   * Variables from tensors named and shaped (PyTorch layouts) as vitParamShapes(cfg), e.g. from
   * loadVitWeights. Takes ownership: the given tensors are disposed.
   */
  static fromWeights(cfg: VitConfig, weights: Map<string, tf.Tensor>): Vit {
    const shapes = vitParamShapes(cfg);
    for (const [name, shape] of shapes) {
      const t = weights.get(name);
      if (!t) throw new Error(`ViT ${cfg.name}: missing weight "${name}"`);
      if (!tf.util.arraysEqual(t.shape, shape)) throw new Error(`ViT ${cfg.name}: weight "${name}" has shape [${t.shape}], expected [${shape}]`);
    }
    const extra = [...weights.keys()].filter((k) => !shapes.some(([n]) => n === k));
    if (extra.length) throw new Error(`ViT ${cfg.name}: unexpected weights ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);
    const params = new Map<string, tf.Variable>();
    for (const [name] of shapes) {
      const t = weights.get(name)!;
      params.set(name, own(toInternal(name, t)));
      t.dispose();
    }
    return new Vit(cfg, params);
  }

  private p<R extends tf.Rank>(name: string): tf.Tensor<R> {
    const v = this.params.get(name);
    if (!v) throw new Error(`ViT ${this.config.name}: no parameter "${name}"`);
    return v as unknown as tf.Tensor<R>;
  }

  private block(i: number): BlockParams {
    const p = `transformer.resblocks.${i}.`;
    return {
      ln1Weight: this.p(`${p}ln_1.weight`),
      ln1Bias: this.p(`${p}ln_1.bias`),
      attn: {
        inProjWeight: this.p(`${p}attn.in_proj_weight`),
        inProjBias: this.p(`${p}attn.in_proj_bias`),
        outProjWeight: this.p(`${p}attn.out_proj.weight`),
        outProjBias: this.p(`${p}attn.out_proj.bias`),
      },
      ln2Weight: this.p(`${p}ln_2.weight`),
      ln2Bias: this.p(`${p}ln_2.bias`),
      mlp: {
        fcWeight: this.p(`${p}mlp.c_fc.weight`),
        fcBias: this.p(`${p}mlp.c_fc.bias`),
        projWeight: this.p(`${p}mlp.c_proj.weight`),
        projBias: this.p(`${p}mlp.c_proj.bias`),
      },
    };
  }

  /** Patch tokens + class token + positions: [B, 1 + grid², width]. */
  embed(x: tf.Tensor4D): tf.Tensor3D {
    const cfg = this.config;
    const [b, h, w] = x.shape;
    if (h !== cfg.imageSize || w !== cfg.imageSize || x.shape[3] !== 3) {
      throw new Error(`ViT ${cfg.name}: input [${x.shape}] must be NHWC [B, ${cfg.imageSize}, ${cfg.imageSize}, 3]`);
    }
    const patches = tf.conv2d(x, this.p<tf.Rank.R4>('conv1.weight'), cfg.patchStride, 'valid');
    const g = gridSize(cfg);
    const tokens = patches.reshape([b, g * g, cfg.width]);
    const cls = tf.tile(this.p<tf.Rank.R1>('class_embedding').reshape([1, 1, cfg.width]), [b, 1, 1]);
    return tf.add(tf.concat([cls, tokens], 1), this.p<tf.Rank.R2>('positional_embedding')) as tf.Tensor3D;
  }

  /**
   * NHWC normalised images -> pooled features [B, outputDim ?? width]. CLIP towers have no dropout,
   * so `training` changes nothing here; it keeps the call shape of the heads.
   */
  forward(x: tf.Tensor4D, training = false): tf.Tensor2D {
    void training;
    return tf.tidy(() => {
      const cfg = this.config;
      let h = layerNorm(this.embed(x), this.p('ln_pre.weight'), this.p('ln_pre.bias'), cfg.layerNormEps) as tf.Tensor3D;
      for (let i = 0; i < cfg.layers; i++) h = residualAttentionBlock(h, this.block(i), cfg.heads, cfg.act, cfg.layerNormEps);
      const clsToken = h.slice([0, 0, 0], [-1, 1, -1]).reshape([h.shape[0], cfg.width]);
      const pooled = layerNorm(clsToken, this.p('ln_post.weight'), this.p('ln_post.bias'), cfg.layerNormEps) as tf.Tensor2D;
      return cfg.outputDim === null ? pooled : tf.matMul(pooled, this.p<tf.Rank.R2>('proj'));
    });
  }

  /** OpenCLIP names (no `visual.` prefix) -> new tensors in PyTorch layouts; the caller disposes them. */
  namedWeights(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    this.params.forEach((v, name) => out.set(name, toPytorch(name, v)));
    return out;
  }

  /** One parameter as a new tensor in its PyTorch layout (streams a large model out one tensor at a time). */
  namedWeight(name: string): tf.Tensor {
    return toPytorch(name, this.p(name));
  }

  /** The live variables by name, in our layouts (optimizer state, checkpoints of training runs). */
  get variables(): ReadonlyMap<string, tf.Variable> {
    return this.params;
  }

  get trainableVariables(): tf.Variable[] {
    return [...this.params.values()].filter((v) => v.trainable);
  }

  /** Variables grouped by depth for layer-wise lr decay: embed, block.0..N-1, head. */
  parameterGroups(): ParamGroup[] {
    const groups: ParamGroup[] = [];
    for (const [name, v] of this.params) {
      const depth = layerId(name, this.config);
      const gname = depth === 0 ? 'embed' : depth > this.config.layers ? 'head' : `block.${depth - 1}`;
      let g = groups.find((x) => x.depth === depth);
      if (!g) groups.push((g = { name: gname, depth, variables: [] }));
      g.variables.push(v);
    }
    return groups.sort((a, b) => a.depth - b.depth);
  }

  /** Freezes (false) or unfreezes (true) the whole tower, as open_clip's lock(). */
  setTrainable(trainable: boolean): void {
    this.params.forEach((v) => (v.trainable = trainable));
  }

  get numParams(): number {
    let n = 0;
    this.params.forEach((v) => (n += v.size));
    return n;
  }

  dispose(): void {
    this.params.forEach((v) => v.dispose());
  }
}
