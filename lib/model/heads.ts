/**
 * The reference notebook's embedding head: Dropout -> Dense(dim) -> L2 norm. Training feeds the
 * pre-norm Dense output to a margin head; inference L2-normalises it. Both use the same
 * variables, like the notebook's `model` and `emb_model`. The one layout of its weights is torch
 * Linear's (`head.proj.weight` [dim, in]), as training checkpoints store them; export re-lays it out.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/random';

export interface EmbeddingHeadConfig {
  inDim: number;
  /** Output width: 64 for GUIE. */
  dim: number;
  dropout: number;
}

/** x / max(||x||, eps) row-wise on a tensor (tf.math.l2_normalize; differentiable, for the model and training graphs); host Float32Array rows: lib/retrieval/vector-index l2Normalize. */
export function l2NormalizeTensor(x: tf.Tensor2D, eps = 1e-12): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), eps * eps))));
}

/** Glorot-uniform values (Keras Dense default) drawn from `rng`, for a [rows, cols] weight. */
export function glorotUniform(rng: Rng, rows: number, cols: number): Float32Array {
  const limit = Math.sqrt(6 / (rows + cols));
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = (rng.float() * 2 - 1) * limit;
  return out;
}

/** Dropout with an inverted-scale mask drawn from the Rng (tf.dropout's seed cannot be checkpointed). */
export function dropoutMask(rng: Rng, shape: [number, number], rate: number): tf.Tensor2D {
  const n = shape[0] * shape[1];
  const mask = new Float32Array(n);
  const keep = 1 / (1 - rate);
  const threshold = rate * 4294967296; // float() >= rate, without the division
  for (let i = 0; i < n; i++) mask[i] = rng.nextUint32() >= threshold ? keep : 0;
  return tf.tensor2d(mask, shape);
}

export class EmbeddingHead {
  readonly config: EmbeddingHeadConfig;
  /** torch Linear layout [dim, in]. */
  readonly weight: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1>;

  /** The variables share the given tensors' data; the caller still owns (and may dispose) them. */
  constructor(config: EmbeddingHeadConfig, weight: tf.Tensor2D, bias: tf.Tensor1D) {
    if (!tf.util.arraysEqual(weight.shape, [config.dim, config.inDim]) || bias.shape[0] !== config.dim) {
      throw new Error(`embedding head: weight [${weight.shape}] / bias [${bias.shape}] do not match in=${config.inDim} dim=${config.dim} (weight is [dim, in])`);
    }
    this.config = config;
    this.weight = tf.variable(weight);
    this.bias = tf.variable(bias);
  }

  /** From host values in the layout above (what checkpoints hold). */
  static fromArrays(config: EmbeddingHeadConfig, weight: Float32Array, bias: Float32Array): EmbeddingHead {
    const w = tf.tensor2d(weight, [config.dim, config.inDim]);
    const b = tf.tensor1d(bias);
    const head = new EmbeddingHead(config, w, b);
    tf.dispose([w, b]);
    return head;
  }

  /** Keras defaults: glorot-uniform weight drawn from the seed's Rng, zero bias. */
  static create(config: EmbeddingHeadConfig, seed = 0): EmbeddingHead {
    return EmbeddingHead.fromArrays(config, glorotUniform(Rng.derive(seed, 1), config.dim, config.inDim), new Float32Array(config.dim));
  }

  /** Dropout (a mask drawn from `rng`; none when null) + Dense: the margin head's input. */
  project(x: tf.Tensor2D, rng: Rng | null): tf.Tensor2D {
    return tf.tidy(() => {
      const h = rng && this.config.dropout > 0 ? tf.mul(x, dropoutMask(rng, x.shape, this.config.dropout)) : x;
      return tf.add(tf.matMul(h, this.weight, false, true), this.bias) as tf.Tensor2D;
    });
  }

  /** Dropout + Dense + L2: the embedding. */
  forward(x: tf.Tensor2D, rng: Rng | null = null): tf.Tensor2D {
    return tf.tidy(() => l2NormalizeTensor(this.project(x, rng)));
  }

  /** The checkpoint names (lib/train's parameter names) of the variables. */
  namedWeights(): Map<string, tf.Variable> {
    return new Map<string, tf.Variable>([
      ['head.proj.weight', this.weight],
      ['head.proj.bias', this.bias],
    ]);
  }

  get trainableVariables(): tf.Variable[] {
    return [this.weight, this.bias].filter((v) => v.trainable);
  }

  get numParams(): number {
    return this.weight.size + this.bias.size;
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}
