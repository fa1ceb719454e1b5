/**
 * The training loss of an angular-margin head in one op with its gradient written out: the mean
 * label-smoothed softmax cross-entropy of s·(cos θ + onehot·(φ(θ_y) − cos θ_y)), cos θ between
 * L2-normalised embeddings and L2-normalised class centres (one centre per class). It equals
 * softmaxCrossEntropy(marginLogits(...)) of margins.ts, whose autodiff records ~4x the [B, classes]
 * ops; head training on cached features is dominated by them (bench/head-train.ts).
 */
import * as tf from '@tensorflow/tfjs';

export interface MarginLossConfig {
  kind: 'arcface' | 'cosface';
  s: number;
  easyMargin: boolean;
  labelSmoothing: number;
}

/** x·rsqrt(max(Σx², eps²)) per row (l2NormalizeTensor's definition), with the factor and whether the clamp was inactive. */
function normalise(x: tf.Tensor2D): { unit: tf.Tensor2D; r: tf.Tensor2D; live: tf.Tensor2D } {
  const sq = tf.sum(tf.square(x), -1, true);
  const eps2 = 1e-24;
  const r = tf.rsqrt(tf.maximum(sq, eps2)) as tf.Tensor2D;
  return { unit: tf.mul(x, r) as tf.Tensor2D, r, live: tf.cast(tf.greaterEqual(sq, eps2), 'float32') as tf.Tensor2D }; // tf.maximum's gradient passes at >=
}

/** Gradient through normalise: r·(du − live·u·Σ(du·u)). */
function normaliseGrad(du: tf.Tensor2D, n: { unit: tf.Tensor2D; r: tf.Tensor2D; live: tf.Tensor2D }): tf.Tensor2D {
  const along = tf.mul(tf.sum(tf.mul(du, n.unit), -1, true), n.live);
  return tf.mul(tf.sub(du, tf.mul(n.unit, along)), n.r);
}

/**
 * φ(θ_y) and dφ/d(cos θ_y) per row. ArcFace: cos(θ+m) = c·cos m − sin θ·sin m, sin θ = sqrt(clip(1 − c², 1e-12, 1)),
 * falling back to c − m·sin m beyond θ + m > π (or to c where c ≤ 0 with easy_margin); CosFace: c − m.
 */
function targetMargin(c: tf.Tensor1D, m: tf.Tensor1D, cfg: MarginLossConfig): { phi: tf.Tensor1D; dphi: tf.Tensor1D } {
  if (cfg.kind === 'cosface') return { phi: tf.sub(c, m), dphi: tf.onesLike(c) };
  const oneMinus = tf.sub(1, tf.square(c));
  const sin = tf.sqrt(tf.clipByValue(oneMinus, 1e-12, 1));
  const [cosM, sinM] = [tf.cos(m), tf.sin(m)];
  const phi = tf.sub(tf.mul(c, cosM), tf.mul(sin, sinM));
  // d sin/dc = −c/sin where the clip passes its gradient (1 − c² ≥ 1e-12), else 0
  const dsin = tf.mul(tf.neg(tf.div(c, sin)), tf.cast(tf.greaterEqual(oneMinus, 1e-12), 'float32'));
  const dArc = tf.sub(cosM, tf.mul(dsin, sinM));
  const use = cfg.easyMargin ? tf.step(c) : tf.step(tf.sub(c, tf.cos(tf.sub(Math.PI, m))));
  const fallback = cfg.easyMargin ? c : tf.sub(c, tf.mul(tf.sin(tf.sub(Math.PI, m)), m));
  const notUse = tf.sub(1, use);
  return {
    phi: tf.add(tf.mul(use, phi), tf.mul(notUse, fallback)) as tf.Tensor1D,
    dphi: tf.add(tf.mul(use, dArc), notUse) as tf.Tensor1D,
  };
}

/**
 * Loss of embeddings `e` [B, dim] (not yet normalised) against centres [classes, dim], with one margin per class
 * in `margins` [classes]; differentiable in `e` and `centres`.
 */
export function marginSoftmaxLoss(e: tf.Tensor2D, centres: tf.Tensor2D, labels: tf.Tensor1D, margins: tf.Tensor1D, cfg: MarginLossConfig): tf.Scalar {
  const [batch, classes] = [e.shape[0], centres.shape[0]];
  const { s, labelSmoothing: eps } = cfg;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [emb, cent, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const ne = normalise(emb);
    const nc = normalise(cent);
    const cos = tf.matMul(ne.unit, nc.unit, false, true); // [B, classes]
    const cT = tf.sum(tf.mul(ne.unit, tf.gather(nc.unit, labels)), -1) as tf.Tensor1D;
    const { phi, dphi } = targetMargin(cT, tf.gather(margins, labels), cfg);
    const onehot = tf.cast(tf.oneHot(labels, classes), 'float32');
    const z = tf.add(tf.mul(cos, s), tf.mul(onehot, tf.expandDims(tf.mul(tf.sub(phi, cT), s), 1)));
    const lse = tf.logSumExp(z, -1);
    // Σ_ij T_ij z_ij with T = (1 − ε)·onehot + ε/classes, from [B]-sized terms: Σ_j z_ij = s·(Σ_j cos_ij + φ_i − c_i), Σ_j cos_ij = u_i·Σ_j v_j
    const cosRowSum = tf.sum(tf.mul(ne.unit, tf.sum(nc.unit, 0)), -1);
    const targetDot = tf.add(tf.mul(phi, s * (1 - eps)), tf.mul(tf.add(cosRowSum, tf.sub(phi, cT)), (s * eps) / classes));
    const value = tf.mean(tf.sub(lse, targetDot)) as tf.Scalar;
    save([ne.unit, ne.r, ne.live, nc.unit, nc.r, nc.live, z, lse, phi, dphi, onehot]);
    return {
      value,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
        const [eu, er, el, cu, cr, cl, zs, lses, phis, dphis, oh] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor2D];
        const g = tf.mul(dy, s / batch); // s·dy/B
        // dL/dz = (softmax(z) − T)/B; dz/dcos = s, plus s·(φ' − 1) on the target column
        const p = tf.exp(tf.sub(zs, tf.expandDims(lses, 1)));
        const pT = tf.exp(tf.sub(tf.mul(phis, s), lses));
        const dzT = tf.sub(pT, 1 - eps + eps / classes); // ·dy/B
        const targetCol = tf.mul(tf.sub(1 - eps, tf.mul(dzT, tf.sub(dphis, 1))), g);
        const dcos = tf.sub(tf.mul(tf.sub(p, eps / classes), g), tf.mul(oh, tf.expandDims(targetCol, 1))) as tf.Tensor2D;
        const de = normaliseGrad(tf.matMul(dcos, cu), { unit: eu, r: er, live: el });
        const dc = normaliseGrad(tf.matMul(dcos, eu, true, false), { unit: cu, r: cr, live: cl });
        return [de, dc];
      },
    };
  });
  return f(e, centres) as tf.Scalar;
}
