/**
 * Where the head starts (config `headInit`): Keras' Glorot-random Dense, or the whitened PCA of the
 * training features, a recipe that keeps the backbone's universality: the untrained head then embeds
 * exactly as the training-free whitened PCA-64 baseline does (scikit-learn's PCA(whiten=True) + L2),
 * each class's margin weight starts at its mean whitened direction, and training moves on from there.
 */
import type { Config } from '../config';
import { transpose2d } from '../core/layout';
import { fitPca, whiteningMap, type Pca } from '../retrieval/pca';
import type { Dataset } from './train-config';
import { initHeadWeights, type HeadConfig, type HeadWeights } from './model';
import { Rng } from '../util/random';

export type HeadInit = 'random' | 'whitening';

/** The whitening head: Dense = whitened PCA of `features` (rows of `inputDim`), margins = class means of the unit embeddings. */
export function whiteningHeadWeights(cfg: HeadConfig, features: Float32Array, labels: Int32Array, seed: number, pca?: Pca): HeadWeights {
  const n = labels.length;
  const [d, k] = [cfg.inputDim, cfg.embeddingDim];
  if (n - 1 < k) throw new Error(`headInit "whitening": ${n} training rows give at most ${n - 1} principal axes, the head has ${k} outputs (lower embeddingDim or use headInit "random")`);
  const { weight, bias } = whiteningMap(pca ?? fitPca(features, d, k, { seed }));
  const projWeight = transpose2d(weight, d, k); // the head's [out, in] from the map's [in, out]
  // class centres: the mean of each class's unit-length whitened embeddings
  const centres = new Float64Array(cfg.numClasses * k);
  const e = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < k; j++) {
      let s = bias[j];
      for (let r = 0; r < d; r++) s += features[i * d + r] * weight[r * k + j];
      e[j] = s;
      norm += s * s;
    }
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < k; j++) centres[labels[i] * k + j] += e[j] / norm;
  }
  // sub-centers start at their class centre, nudged apart by a little seeded noise
  const sub = cfg.subCenters ?? 1;
  const rng = Rng.derive(seed, 3);
  const marginWeight = new Float32Array(cfg.numClasses * sub * k);
  for (let c = 0; c < cfg.numClasses; c++) {
    for (let s = 0; s < sub; s++) {
      for (let j = 0; j < k; j++) marginWeight[(c * sub + s) * k + j] = centres[c * k + j] + (sub > 1 ? 0.01 * rng.normal() : 0);
    }
  }
  return { projWeight, projBias: bias, marginWeight };
}

/**
 * The head's starting weights as the config says, from the training rows (cached features) when it needs them;
 * `note` says when the whitening could not be had (fewer training rows than outputs) and the start is random.
 * `whitening` is the whitened PCA of those rows (kept beside the model as its training-data baseline), null when there are too few.
 */
export async function headInitWeights(config: Pick<Config, 'headInit' | 'seed'>, cfg: HeadConfig, train: Dataset): Promise<{ weights: HeadWeights; note: string | null; whitening: Pca | null }> {
  if (train.size - 1 < cfg.embeddingDim) {
    const note = config.headInit === 'whitening' ? `headInit "whitening" needs more training rows than the ${cfg.embeddingDim} outputs (${train.size} here): the head starts random` : null;
    return { weights: initHeadWeights(cfg, config.seed), note, whitening: null };
  }
  const x = await train.rows(Int32Array.from({ length: train.size }, (_, i) => i));
  const features = x.dataSync() as Float32Array;
  x.dispose();
  if (features.length !== train.size * cfg.inputDim) {
    if (config.headInit === 'random') return { weights: initHeadWeights(cfg, config.seed), note: null, whitening: null };
    throw new Error(`headInit "whitening": the training rows are not ${cfg.inputDim}-d features (images? whitening starts from cached features)`);
  }
  // a whitening to 64-d needs 64-d features or wider; narrower ones give no baseline (and no whitening start)
  if (cfg.inputDim < cfg.embeddingDim) {
    if (config.headInit === 'random') return { weights: initHeadWeights(cfg, config.seed), note: null, whitening: null };
    throw new Error(`headInit "whitening": ${cfg.inputDim}-d features give at most ${cfg.inputDim} principal axes, the head has ${cfg.embeddingDim} outputs (lower embeddingDim or use headInit "random")`);
  }
  const whitening = fitPca(features, cfg.inputDim, cfg.embeddingDim, { seed: config.seed });
  const weights = config.headInit === 'random' ? initHeadWeights(cfg, config.seed) : whiteningHeadWeights(cfg, features, train.labels, config.seed, whitening);
  return { weights, note: null, whitening };
}
