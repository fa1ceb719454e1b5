/**
 * The training-free baselines a trained embedding is shown beside, per domain and overall: the
 * untrained backbone's raw features, PCA-k of them and whitened PCA-k, both fitted on the gallery's
 * features (transductive: the gallery is seen before it is searched). `guie eval`, the jig report
 * and notebook 04 score and compare through these functions; the main job adds the same whitening
 * fitted on its training rows. A trained head can lose to these on domains it never saw.
 */
import { DEFAULT_CONFIG } from '../config';
import type { Embeddings } from './embed';
import type { MetricsReport } from './metrics';
import { applyPca, fitPca } from './pca';

/** Scores query vectors against index vectors with the evaluation's ground truth. */
export type Scorer = (queries: Embeddings, index: Embeddings) => Promise<MetricsReport>;

export interface BaselineScores {
  backbone: string;
  featureDim: number;
  /** Width of both PCAs: 64, or fewer when the gallery has fewer rows. */
  pcaDim: number;
  raw: MetricsReport;
  pca: MetricsReport;
  /** Whitened PCA fitted on the gallery itself (transductive). */
  whitenedGallery: MetricsReport;
}

export interface BaselineRow {
  /** 'overall', then each domain. */
  group: string;
  queries: number;
  model: number;
  whitenedGallery: number;
  pca: number;
  raw: number;
  /** The model scores below the whitened PCA fitted on the gallery. */
  loses: boolean;
}

export interface BaselineComparison {
  kind: 'computed';
  backbone: string;
  featureDim: number;
  pcaDim: number;
  fittedOn: 'gallery';
  rows: BaselineRow[];
  metrics: { raw: MetricsReport; pca: MetricsReport; whitenedGallery: MetricsReport };
}

export interface BaselineSkipped {
  kind: 'skipped';
  reason: string;
}

export type BaselineOutcome = BaselineComparison | BaselineSkipped;

/** Raw features, PCA and whitened PCA both fitted on `features.index`, each scored by `score`. */
export async function scoreBaselines(features: { queries: Embeddings; index: Embeddings }, score: Scorer, opts: { backbone: string; pcaDim?: number; seed?: number }): Promise<BaselineScores> {
  const { queries, index } = features;
  const dim = index.dim;
  const pcaDim = Math.min(opts.pcaDim ?? 64, dim, index.ids.length - 1);
  const pca = fitPca(index.vectors, dim, pcaDim, { seed: opts.seed ?? DEFAULT_CONFIG.seed });
  const project = (e: Embeddings, whiten: boolean): Embeddings => ({ ids: e.ids, dim: pcaDim, vectors: applyPca(pca, e.vectors, true, whiten) });
  return {
    backbone: opts.backbone,
    featureDim: dim,
    pcaDim,
    raw: await score(queries, index),
    pca: await score(project(queries, false), project(index, false)),
    whitenedGallery: await score(project(queries, true), project(index, true)),
  };
}

/** The model's mP@5 beside each baseline's, overall then per domain (sorted). */
export function compareToBaselines(model: MetricsReport, b: BaselineScores): BaselineComparison {
  const at = (m: MetricsReport, group: string) => (group === 'overall' ? m.overall : m.byDomain[group])?.mP5 ?? NaN;
  const rows = ['overall', ...Object.keys(model.byDomain).sort()].map((group): BaselineRow => {
    const row = { group, queries: (group === 'overall' ? model.overall : model.byDomain[group]).queries, model: at(model, group), whitenedGallery: at(b.whitenedGallery, group), pca: at(b.pca, group), raw: at(b.raw, group) };
    return { ...row, loses: row.model < row.whitenedGallery };
  });
  return { kind: 'computed', backbone: b.backbone, featureDim: b.featureDim, pcaDim: b.pcaDim, fittedOn: 'gallery', rows, metrics: { raw: b.raw, pca: b.pca, whitenedGallery: b.whitenedGallery } };
}

/** Domains (not 'overall') where the model loses to the whitened PCA fitted on the gallery. */
export function losingDomains(c: BaselineComparison): string[] {
  return c.rows.filter((r) => r.group !== 'overall' && r.loses).map((r) => r.group);
}

/** Column names shared by the text table, the jig report and the notebook chart. */
export function baselineLabels(c: Pick<BaselineComparison, 'pcaDim' | 'featureDim'>): { whitenedGallery: string; pca: string; raw: string } {
  return { whitenedGallery: `whitened PCA-${c.pcaDim} (fitted on the gallery)`, pca: `PCA-${c.pcaDim} (gallery)`, raw: `raw ${c.featureDim}-d` };
}

const f4 = (x: number) => x.toFixed(4);

/** Plain-text table (what `guie eval` prints), then one warning line naming the domains where the model loses. */
export function formatBaselines(c: BaselineOutcome): string {
  if (c.kind === 'skipped') return `baselines: skipped: ${c.reason}`;
  const l = baselineLabels(c);
  const widths = [24, 7, 8, l.whitenedGallery.length, l.pca.length, l.raw.length];
  const line = (cells: string[]) => cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join(' ');
  const losing = losingDomains(c);
  return [
    `training-free baselines (untrained ${c.backbone}; both PCAs fitted on the gallery's features: transductive):`,
    line(['group', 'queries', 'model', l.whitenedGallery, l.pca, l.raw]),
    ...c.rows.map((r) => line([r.group === 'overall' ? 'overall' : `domain:${r.group}`, String(r.queries), `${r.loses ? '<' : ''}${f4(r.model)}`, f4(r.whitenedGallery), f4(r.pca), f4(r.raw)])),
    ...(losing.length > 0 ? [`warning: the model loses to the training-free whitened PCA-${c.pcaDim} fitted on the gallery on ${losing.join(', ')}`] : []),
  ].join('\n');
}
