/**
 * Optimizers with explicit, checkpointable state (AdamW with decoupled weight decay as
 * torch.optim.AdamW, SGD with momentum as torch.optim.SGD), parameter groups with their own lr
 * and weight decay (layer-wise decay for ViT blocks), gradient accumulation and global-norm
 * clipping (torch.nn.utils.clip_grad_norm_).
 */
import * as tf from '@tensorflow/tfjs';

export interface Param {
  /** Dotted name, e.g. "head.proj.weight", "backbone.blocks.3.attn.in_proj.weight". */
  name: string;
  variable: tf.Variable;
}

export type NamedTensors = Map<string, tf.Tensor>;

/** First matching rule sets a parameter's lr scale and weight decay (timm's param_groups_weight_decay idea). */
export interface GroupRule {
  match: RegExp;
  lrScale?: number;
  weightDecay?: number;
}

export interface ParamGroup {
  params: Param[];
  lr: number;
  weightDecay: number;
}

/** Biases, norm scales/shifts, embeddings (patch/position/class) and 1-d tensors get no weight decay. */
export function excludedFromDecay(p: Param): boolean {
  return p.variable.rank <= 1 || /(^|\.)(bias|norm|ln_\w+|ln\d*|layernorm|embed\w*|positional_embedding|class_embedding|cls_token|pos_embed)(\.|$)/i.test(p.name);
}

/**
 * lr scale of ViT layer-wise decay (BEiT/timm): block i of L gets decay^(L-i), the stem
 * (patch/position/class embeddings, pre-norm) decay^(L+1), everything after the blocks 1.
 */
export function layerwiseLrScale(name: string, numLayers: number, decay: number): number {
  const block = /(?:^|\.)(?:blocks|resblocks|layers?)\.(\d+)\./.exec(name);
  if (block) return decay ** (numLayers - Number(block[1]));
  if (/(patch_embed|conv1|positional_embedding|pos_embed|class_embedding|cls_token|ln_pre)/.test(name)) return decay ** (numLayers + 1);
  return 1;
}

/** Splits parameters into groups: one per (lr, weight decay) pair, from rules and the decay exclusions. */
export function paramGroups(
  params: readonly Param[],
  opts: { lr: number; weightDecay: number; rules?: readonly GroupRule[]; layerwise?: { numLayers: number; decay: number; match: RegExp } },
): ParamGroup[] {
  const groups = new Map<string, ParamGroup>();
  for (const p of params) {
    const rule = opts.rules?.find((r) => r.match.test(p.name));
    let lr = opts.lr * (rule?.lrScale ?? 1);
    if (opts.layerwise && opts.layerwise.match.test(p.name)) lr *= layerwiseLrScale(p.name, opts.layerwise.numLayers, opts.layerwise.decay);
    const wd = excludedFromDecay(p) ? 0 : (rule?.weightDecay ?? opts.weightDecay);
    const key = `${lr}/${wd}`;
    if (!groups.has(key)) groups.set(key, { params: [], lr, weightDecay: wd });
    groups.get(key)!.params.push(p);
  }
  return [...groups.values()];
}

export type OptimizerKind = 'adamw' | 'sgd';

export interface OptimizerConfig {
  kind: OptimizerKind;
  betas?: [number, number];
  eps?: number;
  momentum?: number;
}

/** State a checkpoint needs: the update count and one set of slot tensors per parameter. */
export interface OptimizerState {
  kind: OptimizerKind;
  step: number;
  /** slot name -> parameter name -> values, e.g. "exp_avg" -> "head.proj.weight" -> Float32Array. */
  slots: Record<string, Record<string, Float32Array>>;
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  readonly groups: ParamGroup[];
  /** Updates count (1 after the first step(): torch's state['step']). */
  readonly stepCount: number;
  /** One update; each group's lr is multiplied by `lrFactor` (the schedule). */
  step(grads: NamedTensors, lrFactor: number): void;
  slotNames(): string[];
  /** Slot variables by slot name and parameter name (read by checkpoints). */
  slot(slotName: string, paramName: string): tf.Variable;
  getState(): OptimizerState;
  setState(state: OptimizerState): void;
  dispose(): void;
}

abstract class SlotOptimizer implements Optimizer {
  abstract readonly kind: OptimizerKind;
  protected count = 0;
  private readonly vars = new Map<string, Map<string, tf.Variable>>();

  constructor(
    readonly groups: ParamGroup[],
    private readonly names: string[],
  ) {
    for (const s of names) {
      const m = new Map<string, tf.Variable>();
      for (const g of groups) for (const p of g.params) m.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
      this.vars.set(s, m);
    }
  }

  get stepCount(): number {
    return this.count;
  }

  slotNames(): string[] {
    return [...this.names];
  }

  slot(slotName: string, paramName: string): tf.Variable {
    const v = this.vars.get(slotName)?.get(paramName);
    if (!v) throw new Error(`optimizer has no slot "${slotName}" for parameter "${paramName}"`);
    return v;
  }

  step(grads: NamedTensors, lrFactor: number): void {
    this.count++;
    for (const g of this.groups) {
      const lr = g.lr * lrFactor;
      for (const p of g.params) {
        const grad = grads.get(p.name);
        if (!grad) continue; // frozen in this stage: no gradient, no update, slots untouched
        this.update(p, grad, lr, g.weightDecay);
      }
    }
  }

  protected abstract update(p: Param, grad: tf.Tensor, lr: number, weightDecay: number): void;

  getState(): OptimizerState {
    const slots: OptimizerState['slots'] = {};
    for (const [s, m] of this.vars) {
      slots[s] = {};
      for (const [name, v] of m) slots[s][name] = v.dataSync() as Float32Array;
    }
    return { kind: this.kind, step: this.count, slots };
  }

  setState(state: OptimizerState): void {
    if (state.kind !== this.kind) throw new Error(`optimizer state is for ${state.kind}, this optimizer is ${this.kind}`);
    for (const [s, m] of this.vars) {
      for (const [name, v] of m) {
        const values = state.slots[s]?.[name];
        if (!values || values.length !== v.size) throw new Error(`optimizer state: slot ${s}/${name} missing or of wrong size`);
        v.assign(tf.tensor(values, v.shape, 'float32'));
      }
    }
    this.count = state.step;
  }

  dispose(): void {
    for (const m of this.vars.values()) for (const v of m.values()) v.dispose();
  }
}

/** torch.optim.AdamW: p *= 1 - lr·wd; m, v moments; p -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps). */
export class AdamW extends SlotOptimizer {
  readonly kind = 'adamw';
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;

  constructor(groups: ParamGroup[], cfg: Omit<OptimizerConfig, 'kind'> = {}) {
    super(groups, ['exp_avg', 'exp_avg_sq']);
    [this.b1, this.b2] = cfg.betas ?? [0.9, 0.999];
    this.eps = cfg.eps ?? 1e-8;
  }

  protected update(p: Param, grad: tf.Tensor, lr: number, wd: number): void {
    const m = this.slot('exp_avg', p.name);
    const v = this.slot('exp_avg_sq', p.name);
    const bc1 = 1 - this.b1 ** this.count;
    const bc2 = 1 - this.b2 ** this.count;
    tf.tidy(() => {
      const decayed = wd > 0 ? tf.mul(p.variable, 1 - lr * wd) : p.variable;
      const m1 = tf.add(tf.mul(m, this.b1), tf.mul(grad, 1 - this.b1));
      const v1 = tf.add(tf.mul(v, this.b2), tf.mul(tf.square(grad), 1 - this.b2));
      const denom = tf.add(tf.div(tf.sqrt(v1), Math.sqrt(bc2)), this.eps);
      m.assign(m1);
      v.assign(v1);
      p.variable.assign(tf.sub(decayed, tf.mul(tf.div(m1, denom), lr / bc1)));
    });
  }
}

/** torch.optim.SGD with momentum: g += wd·p (coupled L2); buf = μ·buf + g; p -= lr·buf. */
export class SgdMomentum extends SlotOptimizer {
  readonly kind = 'sgd';
  private readonly momentum: number;

  constructor(groups: ParamGroup[], cfg: Omit<OptimizerConfig, 'kind'> = {}) {
    super(groups, ['momentum_buffer']);
    this.momentum = cfg.momentum ?? 0.9;
  }

  protected update(p: Param, grad: tf.Tensor, lr: number, wd: number): void {
    const buf = this.slot('momentum_buffer', p.name);
    tf.tidy(() => {
      const g = wd > 0 ? tf.add(grad, tf.mul(p.variable, wd)) : grad;
      const b = tf.add(tf.mul(buf, this.momentum), g);
      buf.assign(b);
      p.variable.assign(tf.sub(p.variable, tf.mul(b, lr)));
    });
  }
}

export function makeOptimizer(groups: ParamGroup[], cfg: OptimizerConfig): Optimizer {
  if (cfg.kind === 'adamw') return new AdamW(groups, cfg);
  if (cfg.kind === 'sgd') return new SgdMomentum(groups, cfg);
  throw new Error(`unknown optimizer "${String(cfg.kind)}" (adamw, sgd)`);
}

/** Global L2 norm of all gradients, and the gradients scaled so that norm <= maxNorm (torch's coef = max/(norm+1e-6), capped at 1). */
export function clipByGlobalNorm(grads: NamedTensors, maxNorm: number): { grads: NamedTensors; norm: number } {
  const norm = Math.sqrt(tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))).dataSync()[0]));
  const coef = maxNorm / (norm + 1e-6);
  if (!(coef < 1)) return { grads, norm };
  const out: NamedTensors = new Map();
  for (const [k, g] of grads) out.set(k, tf.mul(g, coef));
  return { grads: out, norm };
}

/** Sums micro-batch gradients; mean() divides by the count (one optimizer step per `micro` batches). */
export class GradAccumulator {
  private sums: NamedTensors = new Map();
  private n = 0;

  add(grads: NamedTensors): void {
    for (const [k, g] of grads) {
      const prev = this.sums.get(k);
      this.sums.set(k, prev ? tf.add(prev, g) : tf.clone(g));
      prev?.dispose();
    }
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  /** Averaged gradients; the accumulator is emptied and the caller owns the tensors. */
  take(): NamedTensors {
    const out: NamedTensors = new Map();
    for (const [k, g] of this.sums) {
      out.set(k, this.n === 1 ? g : tf.div(g, this.n));
      if (this.n !== 1) g.dispose();
    }
    this.sums = new Map();
    this.n = 0;
    return out;
  }
}
