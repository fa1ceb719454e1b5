/**
 * What the training loop trains: an optional backbone, then the reference notebook's head
 * Dropout -> Dense(64) -> L2, and a margin softmax (ArcFace / CosFace, optional sub-centers and
 * per-class dynamic margins) with label-smoothed cross-entropy. Weights are initialised from
 * the seeded Rng and dropout masks are drawn from it, so a run is reproducible bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { EmbeddingHead, l2NormalizeTensor } from '../model/heads';
import { softmaxCrossEntropy } from '../model/loss';
import { marginLogits } from '../model/margins';
import type { Param } from './optim';
import { Rng } from '../util/random';

export type MarginKind = 'arcface' | 'cosface';

export interface HeadConfig {
  inputDim: number;
  embeddingDim: number;
  numClasses: number;
  dropout: number;
  margin: MarginKind;
  /** s: logit scale (30 in the winners' heads). */
  scale: number;
  /** m: one margin, or one per class (dynamic margins: model/margins.ts dynamicMargins). */
  marginValue: number | readonly number[];
  /** Sub-centers per class (sub-center ArcFace, k=3 for the 6th place); 1 = plain. */
  subCenters?: number;
  labelSmoothing?: number;
}

/** A backbone the loop can fine-tune: named parameters (prefixed "backbone.") and a forward pass. */
export interface Backbone {
  params: Param[];
  outputDim: number;
  forward(x: tf.Tensor): tf.Tensor2D;
}

export interface TrainModel {
  readonly params: Param[];
  readonly config: HeadConfig;
  /** Mean training loss of a batch; `rng` draws the dropout mask (no dropout when null). */
  loss(x: tf.Tensor, labels: tf.Tensor1D, rng: Rng | null): tf.Scalar;
  /** Unit-length embeddings (inference graph: no dropout, no margin). */
  embed(x: tf.Tensor): tf.Tensor2D;
  dispose(): void;
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

export interface HeadWeights {
  projWeight: Float32Array; // [embeddingDim, inputDim], torch Linear layout
  projBias: Float32Array; // [embeddingDim]
  marginWeight: Float32Array; // [numClasses·subCenters, embeddingDim]
}

export function initHeadWeights(cfg: HeadConfig, seed: number): HeadWeights {
  const k = cfg.subCenters ?? 1;
  return {
    projWeight: glorotUniform(Rng.derive(seed, 1), cfg.embeddingDim, cfg.inputDim),
    projBias: new Float32Array(cfg.embeddingDim),
    marginWeight: glorotUniform(Rng.derive(seed, 2), cfg.numClasses * k, cfg.embeddingDim),
  };
}

/** Head (+ optional backbone). Parameter names: head.proj.weight/bias, head.margin.weight, backbone.*. */
export function createModel(cfg: HeadConfig, weights: HeadWeights, backbone?: Backbone): TrainModel {
  const k = cfg.subCenters ?? 1;
  const inDim = backbone ? backbone.outputDim : cfg.inputDim;
  if (inDim !== cfg.inputDim) throw new Error(`head inputDim ${cfg.inputDim} does not match backbone output ${inDim}`);
  const projW = tf.variable(tf.tensor2d(weights.projWeight, [cfg.embeddingDim, cfg.inputDim]));
  const projB = tf.variable(tf.tensor1d(weights.projBias));
  const marginW = tf.variable(tf.tensor2d(weights.marginWeight, [cfg.numClasses * k, cfg.embeddingDim]));
  const margins = typeof cfg.marginValue === 'number' ? cfg.marginValue : tf.tensor1d([...cfg.marginValue]);
  if (typeof cfg.marginValue !== 'number' && cfg.marginValue.length !== cfg.numClasses) {
    throw new Error(`marginValue has ${cfg.marginValue.length} per-class margins for ${cfg.numClasses} classes`);
  }
  const params: Param[] = [
    ...(backbone?.params ?? []),
    { name: 'head.proj.weight', variable: projW },
    { name: 'head.proj.bias', variable: projB },
    { name: 'head.margin.weight', variable: marginW },
  ];
  const features = (x: tf.Tensor) => (backbone ? backbone.forward(x) : (x as tf.Tensor2D));
  const project = (f: tf.Tensor2D) => l2NormalizeTensor(tf.add(tf.matMul(f, projW, false, true), projB) as tf.Tensor2D);
  return {
    params,
    config: cfg,
    loss(x, labels, rng) {
      return tf.tidy(() => {
        let f = features(x);
        if (rng && cfg.dropout > 0) f = tf.mul(f, dropoutMask(rng, f.shape, cfg.dropout));
        const e = project(f);
        let cos: tf.Tensor2D = tf.matMul(e, l2NormalizeTensor(marginW), false, true);
        if (k > 1) cos = tf.max(cos.reshape([-1, cfg.numClasses, k]), -1) as tf.Tensor2D;
        const logits = marginLogits(cos, labels, { kind: cfg.margin, s: cfg.scale, margins });
        return softmaxCrossEntropy(logits, labels, cfg.labelSmoothing ?? 0);
      });
    },
    embed(x) {
      return tf.tidy(() => project(features(x)));
    },
    dispose() {
      for (const p of params) p.variable.dispose();
      if (typeof margins !== 'number') margins.dispose();
    },
  };
}

/** The trained projection as model/heads.ts's EmbeddingHead (Keras [in, dim] kernel): what evaluation and export take. */
export function toEmbeddingHead(model: TrainModel): EmbeddingHead {
  const w = model.params.find((p) => p.name === 'head.proj.weight')!.variable;
  const b = model.params.find((p) => p.name === 'head.proj.bias')!.variable;
  const kernel = tf.transpose(w) as tf.Tensor2D;
  const bias = tf.clone(b) as tf.Tensor1D;
  const head = new EmbeddingHead({ inDim: model.config.inputDim, dim: model.config.embeddingDim, dropout: model.config.dropout }, kernel, bias);
  tf.dispose([kernel, bias]);
  return head;
}
