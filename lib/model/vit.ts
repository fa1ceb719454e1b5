/**
 * CLIP vision transformer (open_clip's VisionTransformer, 'tok' pooling) in TensorFlow.js.
 * Parameters are tf.Variables keyed by OpenCLIP names without the `visual.` prefix. Files,
 * namedWeights() and the export graph use PyTorch layouts; the variables hold vit-layout.ts's TF
 * layouts (Linear [in, out], conv1 HWIO), the ones tfjs computes fastest with (NHWC input).
 */
import * as tf from '@tensorflow/tfjs';
import { layerNorm, residualAttentionBlock, type BlockParams } from './layers';
import { inversePermutation } from '../core/layout';
import { gridSize, type VitConfig } from './vit-config';
import { randomVitWeights, tfPermutation, toTfLayout, vitParamShapes, type InitStyle } from './vit-layout';

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

/** PyTorch layout -> our variable layout ('in'), or back ('out'): a new tensor either way. */
function relayout(name: string, t: tf.Tensor, direction: 'in' | 'out'): tf.Tensor {
  const perm = tfPermutation(name);
  if (!perm) return tf.clone(t);
  return tf.transpose(t, direction === 'in' ? perm : inversePermutation(perm));
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

  /** Seeded random weights (training from scratch, tests, benchmarks); vit-layout.ts draws them. */
  static random(cfg: VitConfig, seed = 0, style: InitStyle = 'openclip'): Vit {
    const params = new Map<string, tf.Variable>();
    for (const [name, w] of randomVitWeights(cfg, seed, style)) {
      const t = toTfLayout(name, w);
      params.set(name, own(tf.tensor(t.data, t.shape, 'float32')));
    }
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
      params.set(name, own(relayout(name, t, 'in')));
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
    this.params.forEach((v, name) => out.set(name, relayout(name, v, 'out')));
    return out;
  }

  /** One parameter as a new tensor in its PyTorch layout (streams a large model out one tensor at a time). */
  namedWeight(name: string): tf.Tensor {
    return relayout(name, this.p(name), 'out');
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
