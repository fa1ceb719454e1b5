/**
 * A generated, class-clustered feature set standing in for frozen-backbone features (tests,
 * benchmark, DEBUG notebook): class c has a centre in the first `signalDim` dimensions, every
 * row adds isotropic noise on all `dim` dimensions, so raw nearest neighbours are poor and a
 * learned 64-d projection that finds the signal subspace is good.
 */
import type { FeatureBatch } from './feature-cache';
import { Rng } from '../util/random';

export interface SyntheticConfig {
  classes: number;
  perClass: number;
  dim: number;
  signalDim: number;
  /** Distance scale of class centres (per signal dimension). */
  separation: number;
  noise: number;
  sources: readonly string[];
  seed: number;
}

/** Rows class-major shuffled; class c is from source c mod sources.length. `split` picks a disjoint sample stream. */
export function syntheticFeatures(cfg: SyntheticConfig, split: number): FeatureBatch {
  const centres = Rng.derive(cfg.seed, 0);
  const c0 = new Float32Array(cfg.classes * cfg.signalDim);
  for (let i = 0; i < c0.length; i++) c0[i] = centres.normal() * cfg.separation;
  const rng = Rng.derive(cfg.seed, 100 + split);
  const n = cfg.classes * cfg.perClass;
  const order = rng.permutation(n);
  const features = new Float32Array(n * cfg.dim);
  const labels = new Int32Array(n);
  const sources: string[] = [];
  for (let r = 0; r < n; r++) {
    const c = order[r] % cfg.classes;
    labels[r] = c;
    sources.push(cfg.sources[c % cfg.sources.length]);
    for (let j = 0; j < cfg.dim; j++) features[r * cfg.dim + j] = rng.normal() * cfg.noise + (j < cfg.signalDim ? c0[c * cfg.signalDim + j] : 0);
  }
  return { features, labels, sources };
}
