/**
 * What the training loop trains: an optional backbone, then the reference notebook's head
 * Dropout -> Dense(64) -> L2 (model/heads.ts EmbeddingHead), and a margin softmax (model/margins.ts
 * MarginHead: ArcFace / CosFace, optional sub-centers and per-class dynamic margins) with
 * label-smoothed cross-entropy. Weights are initialised from the seeded Rng and dropout masks are
 * drawn from it, so a run is reproducible bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { EmbeddingHead, glorotUniform } from '../model/heads';
import { MarginHead } from '../model/margins';
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
  /** The embedding head, sharing the trained variables: what evaluation scores. */
  readonly head: EmbeddingHead;
  /** Mean training loss of a batch; `rng` draws the dropout mask (no dropout when null). */
  loss(x: tf.Tensor, labels: tf.Tensor1D, rng: Rng | null): tf.Scalar;
  /** Unit-length embeddings (inference graph: no dropout, no margin). */
  embed(x: tf.Tensor): tf.Tensor2D;
  dispose(): void;
}

/** Host values of the head's weights in model/heads.ts's layouts (what checkpoints hold). */
export interface HeadWeights {
  projWeight: Float32Array; // [embeddingDim, inputDim]
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

/** Head (+ optional backbone). Parameter names: the heads' namedWeights() (head.proj.weight/bias, head.margin.weight), backbone.*. */
export function createModel(cfg: HeadConfig, weights: HeadWeights, backbone?: Backbone): TrainModel {
  const k = cfg.subCenters ?? 1;
  const inDim = backbone ? backbone.outputDim : cfg.inputDim;
  if (inDim !== cfg.inputDim) throw new Error(`head inputDim ${cfg.inputDim} does not match backbone output ${inDim}`);
  const head = EmbeddingHead.fromArrays({ inDim, dim: cfg.embeddingDim, dropout: cfg.dropout }, weights.projWeight, weights.projBias);
  const centres = tf.tensor2d(weights.marginWeight, [cfg.numClasses * k, cfg.embeddingDim]);
  const margin = new MarginHead({ kind: cfg.margin, numClasses: cfg.numClasses, dim: cfg.embeddingDim, s: cfg.scale, m: cfg.marginValue, k }, centres);
  centres.dispose();
  const params: Param[] = [...(backbone?.params ?? []), ...[...head.namedWeights(), ...margin.namedWeights()].map(([name, variable]) => ({ name, variable }))];
  const features = (x: tf.Tensor) => (backbone ? backbone.forward(x) : (x as tf.Tensor2D));
  return {
    params,
    config: cfg,
    head,
    loss(x, labels, rng) {
      return tf.tidy(() => margin.loss(head.project(features(x), rng), labels, cfg.labelSmoothing ?? 0));
    },
    embed(x) {
      return tf.tidy(() => head.forward(features(x)));
    },
    dispose() {
      for (const p of backbone?.params ?? []) p.variable.dispose();
      head.dispose();
      margin.dispose();
    },
  };
}
