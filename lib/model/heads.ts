/**
 * The reference notebook's embedding head: Dropout -> Dense(dim) -> L2 norm. Training feeds the
 * pre-norm Dense output to a margin head; inference L2-normalises it. Both use the same
 * variables, like the notebook's `model` and `emb_model`.
 */
import * as tf from '@tensorflow/tfjs';

export interface EmbeddingHeadConfig {
  inDim: number;
  /** Output width: 64 for GUIE. */
  dim: number;
  dropout: number;
}

export const DEFAULT_HEAD: Omit<EmbeddingHeadConfig, 'inDim'> = { dim: 64, dropout: 0.2 };

/** x / max(||x||, eps) row-wise on a tensor (tf.math.l2_normalize; differentiable, for the model and training graphs); host Float32Array rows: lib/retrieval/vector-index l2Normalize. */
export function l2NormalizeTensor(x: tf.Tensor2D, eps = 1e-12): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), eps * eps))));
}

export class EmbeddingHead {
  readonly config: EmbeddingHeadConfig;
  /** Keras Dense layout [in, dim]. */
  readonly kernel: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1>;

  /** The variables share the given tensors' data; the caller still owns (and may dispose) them. */
  constructor(config: EmbeddingHeadConfig, kernel: tf.Tensor2D, bias: tf.Tensor1D) {
    if (!tf.util.arraysEqual(kernel.shape, [config.inDim, config.dim]) || bias.shape[0] !== config.dim) {
      throw new Error(`embedding head: kernel [${kernel.shape}] / bias [${bias.shape}] do not match in=${config.inDim} dim=${config.dim}`);
    }
    this.config = config;
    this.kernel = tf.variable(kernel);
    this.bias = tf.variable(bias);
  }

  /** Keras defaults: glorot-uniform kernel, zero bias. */
  static create(config: EmbeddingHeadConfig, seed = 0): EmbeddingHead {
    const limit = Math.sqrt(6 / (config.inDim + config.dim));
    const kernel = tf.randomUniform([config.inDim, config.dim], -limit, limit, 'float32', seed) as tf.Tensor2D;
    const bias = tf.zeros([config.dim]) as tf.Tensor1D;
    const head = new EmbeddingHead(config, kernel, bias);
    tf.dispose([kernel, bias]);
    return head;
  }

  /** Dropout (training only) + Dense: the margin head's input. */
  project(x: tf.Tensor2D, training: boolean): tf.Tensor2D {
    return tf.tidy(() => {
      const h = training && this.config.dropout > 0 ? tf.dropout(x, this.config.dropout) : x;
      return tf.add(tf.matMul(h, this.kernel), this.bias) as tf.Tensor2D;
    });
  }

  /** Dropout + Dense + L2: the embedding. */
  forward(x: tf.Tensor2D, training = false): tf.Tensor2D {
    return tf.tidy(() => l2NormalizeTensor(this.project(x, training)));
  }

  namedWeights(): Map<string, tf.Tensor> {
    return new Map<string, tf.Tensor>([
      ['head.kernel', this.kernel],
      ['head.bias', this.bias],
    ]);
  }

  get trainableVariables(): tf.Variable[] {
    return [this.kernel, this.bias].filter((v) => v.trainable);
  }

  get numParams(): number {
    return this.kernel.size + this.bias.size;
  }

  dispose(): void {
    this.kernel.dispose();
    this.bias.dispose();
  }
}
