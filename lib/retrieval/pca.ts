/**
 * PCA to k dimensions for wide features (e.g. 1792-d CNN features -> 64-d), the training-free
 * baselines the trained head must beat (plain and whitened), and the whitening a head can start
 * from. Subspace iteration on the covariance with tfjs matmuls + QR, then Rayleigh-Ritz with an
 * exact small eigen-solve: O(d^2 k) per step, never O(d^3). Axis signs follow scikit-learn's
 * svd_flip (each axis' largest-magnitude coordinate positive), so results compare one to one.
 */
import * as tf from '@tensorflow/tfjs';
import { symmetricEigen } from '../viz/projection';

export interface Pca {
  dim: number;
  k: number;
  mean: Float32Array;
  /** d*k row-major: column j is the j-th principal axis (unit length, largest variance first). */
  components: Float32Array;
  /** Variance along each axis. */
  variances: Float32Array;
}

export function fitPca(x: Float32Array, dim: number, k: number, opts: { iterations?: number; oversample?: number; seed?: number } = {}): Pca {
  const n = x.length / dim;
  if (!Number.isInteger(n) || n < 2) throw new Error(`fitPca: need at least 2 rows of ${dim} floats, got ${x.length} floats`);
  if (k < 1 || k > Math.min(dim, n)) throw new Error(`fitPca: k=${k} must be in 1..${Math.min(dim, n)}`);
  const p = Math.min(dim, k + (opts.oversample ?? 16));
  const iterations = opts.iterations ?? 12;
  const [mean, basis] = tf.tidy(() => {
    const X = tf.tensor2d(x, [n, dim]);
    const mu = X.mean(0);
    const Xc = X.sub(mu);
    const C = tf.matMul(Xc, Xc, true, false).div(n - 1) as tf.Tensor2D; // d x d covariance
    let V = tf.randomNormal([dim, p], 0, 1, 'float32', opts.seed ?? 0) as tf.Tensor2D;
    for (let i = 0; i < iterations; i++) {
      const next = tf.linalg.qr(tf.matMul(C, V))[0] as tf.Tensor2D;
      V.dispose();
      V = tf.keep(next);
    }
    const T = tf.matMul(tf.matMul(V, C, true, false), V); // p x p projected covariance
    return [mu, tf.concat([V.reshape([-1]), T.reshape([-1])])] as [tf.Tensor1D, tf.Tensor1D];
  });
  const meanArr = mean.dataSync() as Float32Array;
  const packed = basis.dataSync() as Float32Array;
  mean.dispose();
  basis.dispose();
  const V = packed.subarray(0, dim * p);
  const eig = symmetricEigen(Float64Array.from(packed.subarray(dim * p)), p);
  const order = Array.from(eig.values.keys()).sort((a, b) => eig.values[b] - eig.values[a]).slice(0, k);
  const components = new Float32Array(dim * k);
  for (let r = 0; r < dim; r++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let c = 0; c < p; c++) s += V[r * p + c] * eig.vectors[c * p + order[j]];
      components[r * k + j] = s;
    }
  }
  for (let j = 0; j < k; j++) {
    let big = 0;
    for (let r = 0; r < dim; r++) if (Math.abs(components[r * k + j]) > Math.abs(big)) big = components[r * k + j];
    if (big < 0) for (let r = 0; r < dim; r++) components[r * k + j] = -components[r * k + j];
  }
  return { dim, k, mean: Float32Array.from(meanArr), components, variances: Float32Array.from(order.map((o) => eig.values[o])) };
}

/** The whitening projection as an affine map y = x·W + b: W [dim, k] = axes / sqrt(variance), b = -mean·W (scikit-learn's PCA(whiten=True).transform). */
export function whiteningMap(pca: Pca): { weight: Float32Array; bias: Float32Array } {
  const weight = new Float32Array(pca.dim * pca.k);
  const bias = new Float32Array(pca.k);
  for (let j = 0; j < pca.k; j++) {
    const inv = 1 / Math.sqrt(pca.variances[j]);
    let b = 0;
    for (let r = 0; r < pca.dim; r++) {
      weight[r * pca.k + j] = pca.components[r * pca.k + j] * inv;
      b -= pca.mean[r] * weight[r * pca.k + j];
    }
    bias[j] = b;
  }
  return { weight, bias };
}

/** Projects rows onto the principal axes (whitened: each axis scaled to unit variance) and L2-normalises them (an embedding to search with). */
export function applyPca(pca: Pca, x: Float32Array, normalize = true, whiten = false): Float32Array {
  const y = tf.tidy(() => {
    const n = x.length / pca.dim;
    const axes = whiten ? tf.div(tf.tensor2d(pca.components, [pca.dim, pca.k]), tf.sqrt(tf.tensor1d(pca.variances))) : tf.tensor2d(pca.components, [pca.dim, pca.k]);
    const z = tf.matMul(tf.tensor2d(x, [n, pca.dim]).sub(tf.tensor1d(pca.mean)), axes);
    return normalize ? z.div(z.norm('euclidean', 1, true).maximum(1e-12)) : z;
  });
  const out = Float32Array.from(y.dataSync()); // read outside tidy: tidy would walk a returned typed array
  y.dispose();
  return out;
}
