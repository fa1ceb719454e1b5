/**
 * Transformer building blocks as pure functions over tensors (nanoGPT style). Linear weights come
 * in as [in, out] (Keras layout): on the wasm backend a matMul with transposeB is ~10x slower, so
 * the ViT keeps PyTorch [out, in] tensors transposed internally (see vit.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Activation } from './vit-config';

/** y = x W + b over the last axis; W is [in, out]. */
export function linear(x: tf.Tensor, weight: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  const [inDim, outDim] = weight.shape;
  const lead = x.shape.slice(0, -1);
  let y: tf.Tensor = tf.matMul(x.reshape([-1, inDim]) as tf.Tensor2D, weight);
  if (bias) y = tf.add(y, bias);
  return y.reshape([...lead, outDim]);
}

/** LayerNorm over the last axis with biased variance, as torch.nn.LayerNorm. */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor1D, bias: tf.Tensor1D, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), weight), bias);
}

/** Exact GELU 0.5·x·(1+erf(x/√2)) (torch.nn.GELU) or OpenAI's QuickGELU x·σ(1.702x). */
export function activation(x: tf.Tensor, act: Activation): tf.Tensor {
  if (act === 'quick_gelu') return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

export interface AttentionParams {
  inProjWeight: tf.Tensor2D; // [w, 3w], columns q|k|v as torch.nn.MultiheadAttention's rows
  inProjBias: tf.Tensor1D; // [3w]
  outProjWeight: tf.Tensor2D; // [w, w] (in, out)
  outProjBias: tf.Tensor1D; // [w]
}

/** Multi-head self-attention on x [B, T, w] (torch.nn.MultiheadAttention math, no mask). */
export function selfAttention(x: tf.Tensor3D, p: AttentionParams, heads: number): tf.Tensor3D {
  const [b, t, w] = x.shape;
  const d = w / heads;
  const qkv = linear(x, p.inProjWeight, p.inProjBias).reshape([b, t, 3, heads, d]);
  // [3, B, heads, T, d]
  const [q, k, v] = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4])) as tf.Tensor4D[];
  const scores = tf.matMul(tf.mul(q, 1 / Math.sqrt(d)), k, false, true); // [B, heads, T, T]
  const ctx = tf.matMul(tf.softmax(scores, -1), v); // [B, heads, T, d]
  const merged = tf.transpose(ctx, [0, 2, 1, 3]).reshape([b, t, w]);
  return linear(merged, p.outProjWeight, p.outProjBias) as tf.Tensor3D;
}

export interface MlpParams {
  fcWeight: tf.Tensor2D; // [w, hidden]
  fcBias: tf.Tensor1D;
  projWeight: tf.Tensor2D; // [hidden, w]
  projBias: tf.Tensor1D;
}

export function mlp(x: tf.Tensor, p: MlpParams, act: Activation): tf.Tensor {
  return linear(activation(linear(x, p.fcWeight, p.fcBias), act), p.projWeight, p.projBias);
}

export interface BlockParams {
  ln1Weight: tf.Tensor1D;
  ln1Bias: tf.Tensor1D;
  attn: AttentionParams;
  ln2Weight: tf.Tensor1D;
  ln2Bias: tf.Tensor1D;
  mlp: MlpParams;
}

/** open_clip ResidualAttentionBlock: x + attn(ln_1(x)); x + mlp(ln_2(x)). */
export function residualAttentionBlock(x: tf.Tensor3D, p: BlockParams, heads: number, act: Activation, eps: number): tf.Tensor3D {
  const h = tf.add(x, selfAttention(layerNorm(x, p.ln1Weight, p.ln1Bias, eps) as tf.Tensor3D, p.attn, heads)) as tf.Tensor3D;
  return tf.add(h, mlp(layerNorm(h, p.ln2Weight, p.ln2Bias, eps), p.mlp, act)) as tf.Tensor3D;
}
