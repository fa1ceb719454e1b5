/** The training-free baselines on the held-out queries: raw features, PCA, whitened PCA (fitted on the training rows, and on the gallery). */
import type { MetricsReport } from '../retrieval/metrics';
import { applyPca, fitPca } from '../retrieval/pca';
import type { FeatureCache } from '../train/feature-cache';
import { gatherRows } from '../train/prepare';
import { type HeldOut, score } from './score';
import type { Stage } from './stage';

export interface Baselines {
  raw: number;
  pca64: number;
  whitened: number;
  whitenedGallery: number;
  reports: { raw: MetricsReport; pca64: MetricsReport; whitened: MetricsReport; whitenedGallery: MetricsReport };
}

/** PCA to the embedding width; a small training set (fewer rows than that) caps it at rows - 1. */
export function pcaWidth(embeddingDim: number, featureDim: number, trainRows: number): number {
  return Math.min(embeddingDim, featureDim, trainRows - 1);
}

export function baselineStage(stage: Stage, a: { held: HeldOut; cache: FeatureCache; pcaDim: number; seed: number }): Promise<Baselines> {
  const { held, pcaDim, seed } = a;
  const { data, split, dim, queryFeats, indexFeats } = held;
  return stage(
    'baseline',
    async () => {
      const raw = await score(data, split, queryFeats, indexFeats, dim);
      const pca = fitPca(gatherRows(a.cache, split.train), dim, pcaDim, { seed });
      const pca64 = await score(data, split, applyPca(pca, queryFeats), applyPca(pca, indexFeats), pcaDim);
      const whitened = await score(data, split, applyPca(pca, queryFeats, true, true), applyPca(pca, indexFeats, true, true), pcaDim);
      // transductive: the whitening fitted on the gallery itself (what a host-side reduction could do)
      const galleryDim = Math.min(pcaDim, split.index.length - 1);
      const onGallery = fitPca(indexFeats, dim, galleryDim, { seed });
      const whitenedGallery = await score(data, split, applyPca(onGallery, queryFeats, true, true), applyPca(onGallery, indexFeats, true, true), galleryDim);
      return { raw: raw.overall.mP5, pca64: pca64.overall.mP5, whitened: whitened.overall.mP5, whitenedGallery: whitenedGallery.overall.mP5, reports: { raw, pca64, whitened, whitenedGallery } };
    },
    (b) => `mP@5 raw ${dim}-d ${b.raw.toFixed(4)}, PCA-${pcaDim} ${b.pca64.toFixed(4)}, whitened PCA-${pcaDim} ${b.whitened.toFixed(4)} (fitted on the training rows); whitened on the gallery ${b.whitenedGallery.toFixed(4)} (transductive reference)`,
  );
}
