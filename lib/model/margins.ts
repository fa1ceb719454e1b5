/**
 * Angular-margin classification heads over L2-normalised embeddings and class centres:
 * ArcFace cos(θ+m) (Deng et al. 2019, insightface's ArcMarginProduct incl. easy_margin),
 * CosFace / additive cosine margin cos θ − m, sub-center ArcFace (k centres per class, max over
 * them), and per-class dynamic margins (m_c from class frequency, GLDv2-2020 winners).
 * Output: scaled logits s·cos with the target class's cosine replaced by its margin version.
 */
import * as tf from '@tensorflow/tfjs';
import { l2NormalizeTensor } from './heads';
import { softmaxCrossEntropy } from './loss';
import { marginSoftmaxLoss } from './margin-loss';

export interface MarginConfig {
  kind: 'arcface' | 'cosface';
  numClasses: number;
  /** Embedding width (64). */
  dim: number;
  /** Scale s (30 in the reference notebook and top solutions). */
  s: number;
  /** One margin for all classes, or one per class (dynamic margins). */
  m: number | readonly number[];
  /** Sub-centres per class (sub-center ArcFace); 1 = plain. */
  k?: number;
  /** ArcFace only: apply the margin only where cos θ > 0 (insightface easy_margin). */
  easyMargin?: boolean;
}

/**
 * s·cos with each row's target-class cosine replaced by its margin version φ: ArcFace cos(θ+m)
 * (with insightface's fallback cos θ − m·sin m beyond θ+m > π, or easy_margin), or CosFace cos θ − m.
 * `margins` holds one m per class.
 */
function marginLogits(
  cos: tf.Tensor2D,
  labels: tf.Tensor1D,
  o: { kind: 'arcface' | 'cosface'; s: number; margins: tf.Tensor1D; easyMargin?: boolean },
): tf.Tensor2D {
  return tf.tidy(() => {
    const onehot = tf.oneHot(labels, cos.shape[1]).toFloat();
    const cosT = tf.sum(tf.mul(cos, onehot), -1); // [B]
    const m = tf.gather(o.margins, labels);
    let phiT: tf.Tensor;
    if (o.kind === 'cosface') {
      phiT = tf.sub(cosT, m);
    } else {
      // cos(θ+m) = cos θ cos m − sin θ sin m; clamp keeps the sqrt's gradient finite at |cos| = 1
      const sinT = tf.sqrt(tf.clipByValue(tf.sub(1, tf.square(cosT)), 1e-12, 1));
      const phi = tf.sub(tf.mul(cosT, tf.cos(m)), tf.mul(sinT, tf.sin(m)));
      // beyond θ+m > π, cos(θ+m) stops decreasing: insightface falls back to cos θ − m·sin m.
      // tf.step (x > 0 ? 1 : 0) picks the branch; unlike tf.greater it has a (zero) gradient.
      const usePhi = o.easyMargin ? tf.step(cosT) : tf.step(tf.sub(cosT, tf.cos(tf.sub(Math.PI, m))));
      const fallback = o.easyMargin ? cosT : tf.sub(cosT, tf.mul(tf.sin(tf.sub(Math.PI, m)), m));
      phiT = tf.add(tf.mul(usePhi, phi), tf.mul(tf.sub(1, usePhi), fallback));
    }
    const delta = tf.sub(phiT, cosT).expandDims(1);
    return tf.mul(tf.add(cos, tf.mul(onehot, delta)), o.s) as tf.Tensor2D;
  });
}

export class MarginHead {
  readonly config: Required<MarginConfig>;
  /** Class centres [numClasses·k, dim] (insightface layout: out_features x in_features); row c·k+j is centre j of class c. */
  readonly weight: tf.Variable<tf.Rank.R2>;
  private margins: tf.Tensor1D;

  constructor(config: MarginConfig, weight: tf.Tensor2D) {
    const k = config.k ?? 1;
    this.config = { ...config, k, easyMargin: config.easyMargin ?? false };
    if (!tf.util.arraysEqual(weight.shape, [config.numClasses * k, config.dim])) {
      throw new Error(`margin head: weight [${weight.shape}] must be [${config.numClasses * k}, ${config.dim}] (classes·k, dim)`);
    }
    this.weight = tf.variable(weight);
    this.margins = this.marginTensor(config.m);
  }

  /** Xavier-uniform centres, as insightface. */
  static create(config: MarginConfig, seed = 0): MarginHead {
    const rows = config.numClasses * (config.k ?? 1);
    const limit = Math.sqrt(6 / (rows + config.dim));
    const weight = tf.randomUniform([rows, config.dim], -limit, limit, 'float32', seed) as tf.Tensor2D;
    const head = new MarginHead(config, weight);
    weight.dispose();
    return head;
  }

  private marginTensor(m: number | readonly number[]): tf.Tensor1D {
    const arr = typeof m === 'number' ? new Array<number>(this.config.numClasses).fill(m) : [...m];
    if (arr.length !== this.config.numClasses) throw new Error(`margin head: ${arr.length} margins for ${this.config.numClasses} classes`);
    return tf.keep(tf.tensor1d(arr, 'float32'));
  }

  /** Changes the margin(s) between epochs (2nd place grew m by 0.1 per epoch). */
  setMargin(m: number | readonly number[]): void {
    this.margins.dispose();
    this.margins = this.marginTensor(m);
    this.config.m = m;
  }

  /** cos θ between each embedding and each class [B, numClasses] (max over sub-centres). */
  cosine(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy((): tf.Tensor2D => {
      const cos: tf.Tensor2D = tf.matMul(l2NormalizeTensor(x), l2NormalizeTensor(this.weight as tf.Tensor2D), false, true);
      const { numClasses, k } = this.config;
      return k === 1 ? cos : (tf.max(cos.reshape([x.shape[0], numClasses, k]), -1) as tf.Tensor2D);
    });
  }

  /** Training logits: s·cos with the margin applied to each row's target class. */
  forward(x: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor2D {
    return tf.tidy(() => {
      const { kind, s, easyMargin } = this.config;
      return marginLogits(this.cosine(x), labels, { kind, s, margins: this.margins, easyMargin });
    });
  }

  /** Training loss: label-smoothed softmax cross-entropy of forward()'s logits (fused, with its own gradient, for one centre per class). */
  loss(x: tf.Tensor2D, labels: tf.Tensor1D, labelSmoothing: number): tf.Scalar {
    const { kind, s, easyMargin, k } = this.config;
    if (k === 1) return marginSoftmaxLoss(x, this.weight, labels, this.margins, { kind, s, easyMargin, labelSmoothing });
    return tf.tidy(() => softmaxCrossEntropy(this.forward(x, labels), labels, labelSmoothing));
  }

  /** The checkpoint name (lib/train's parameter name) of the centres. */
  namedWeights(): Map<string, tf.Variable> {
    return new Map<string, tf.Variable>([['head.margin.weight', this.weight]]);
  }

  get trainableVariables(): tf.Variable[] {
    return this.weight.trainable ? [this.weight] : [];
  }

  dispose(): void {
    this.weight.dispose();
    this.margins.dispose();
  }
}

/**
 * Per-class dynamic margins from class sizes: n^-λ rescaled to [b, a+b] (rare classes get the
 * larger margin), as in the GLDv2-2020 winning solution (a=0.45, b=0.05, λ=0.25).
 */
export function dynamicMargins(classCounts: number[], opts: { a?: number; b?: number; lambda?: number } = {}): number[] {
  const { a = 0.45, b = 0.05, lambda = 0.25 } = opts;
  const raw = classCounts.map((n) => {
    if (!(n > 0)) throw new Error(`dynamicMargins: class count ${n} must be > 0`);
    return n ** -lambda;
  });
  const lo = Math.min(...raw);
  const hi = Math.max(...raw);
  return raw.map((r) => (hi === lo ? a + b : ((r - lo) / (hi - lo)) * a + b));
}
