/** The evaluate stage: the shipped model's held-out mP@5 (overall, by usage and per domain) beside the head alone and the training-free baselines. */
import type { MetricsReport } from '../retrieval/metrics';
import type { Baselines } from './baselines';
import { backboneVerdict, FEW_QUERIES, fewQueries } from './noise';
import { type HeldOut, score } from './score';
import type { Stage } from './stage';
import type { TunedBackbone } from './tune-backbone';

export interface DomainScores {
  domain: string;
  queries: number;
  model: number;
  whitened: number;
  whitenedGallery: number;
  raw: number;
  pca: number;
}

/** The shipped model's report: the tuned backbone + head when there is one, else the head alone (`headOnly`). */
export function evaluateStage(stage: Stage, a: { held: HeldOut; tuned: TunedBackbone | null; headOnly: MetricsReport; untrained: MetricsReport; baseline: Baselines; pcaDim: number; embeddingDim: number }): Promise<MetricsReport> {
  const { held, tuned, headOnly, baseline, pcaDim } = a;
  return stage(
    'evaluate',
    async () => (tuned ? score(held.data, held.split, tuned.query, tuned.index, a.embeddingDim) : headOnly),
    (m) =>
      `held-out mP@5 ${tuned ? `tuned backbone + head ${m.overall.mP5.toFixed(4)}, head only ${headOnly.overall.mP5.toFixed(4)}` : `trained head ${m.overall.mP5.toFixed(4)}`} vs whitened PCA-${pcaDim} ${baseline.whitened.toFixed(4)}, PCA-${pcaDim} ${baseline.pca64.toFixed(4)} (untrained head ${a.untrained.overall.mP5.toFixed(4)}; ${m.overall.queries} queries)` +
      (m.overall.mP5 < baseline.whitened ? `; warning: the trained model loses to the training-free whitened PCA-${pcaDim} (try headInit "whitening")` : '') +
      (tuned && backboneVerdict(m.overall.mP5, headOnly.overall.mP5, m.overall.queries) ? `; warning: ${backboneVerdict(m.overall.mP5, headOnly.overall.mP5, m.overall.queries)}` : '') +
      (m.byUsage.Public ? `; Public ${m.byUsage.Public.mP5.toFixed(4)} Private ${m.byUsage.Private?.mP5.toFixed(4)}` : '') +
      (m.overall.queries < FEW_QUERIES ? `; warning: ${fewQueries(m.overall.queries, held.split.kind)}` : ''),
  );
}

/** Per domain of the held-out queries: the shipped model beside the training-free baselines. */
export function domainScores(evaluation: MetricsReport, baselines: Baselines['reports']): DomainScores[] {
  const domainOf = (m: MetricsReport, d: string) => m.byDomain[d]?.mP5 ?? NaN;
  return Object.entries(evaluation.byDomain).map(([d, m]) => ({
    domain: d,
    queries: m.queries,
    model: m.mP5,
    whitened: domainOf(baselines.whitened, d),
    whitenedGallery: domainOf(baselines.whitenedGallery, d),
    raw: domainOf(baselines.raw, d),
    pca: domainOf(baselines.pca64, d),
  }));
}
