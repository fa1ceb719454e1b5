/**
 * The training-free baselines a trained embedding is shown beside, per domain and overall: the
 * untrained backbone's raw features, PCA-k of them and whitened PCA-k, both fitted on the gallery's
 * features (transductive: the gallery is seen before it is searched), and, when the model carries
 * one (lib/retrieval/train-whitening.ts), the whitened PCA fitted on its training features: the
 * baseline a trained head must beat. `guie eval`, the jig report and notebook 04 score and compare
 * through these functions. A trained head can lose to these on domains it never saw.
 */
import { DEFAULT_CONFIG } from '../config';
import type { Embeddings } from './embed';
import type { MetricsReport } from './metrics';
import { applyPca, fitPca } from './pca';
import type { TrainWhitening } from './train-whitening';

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
  /** Whitened PCA fitted on the model's training features, when the model carries it. */
  whitenedTrain: { report: MetricsReport; k: number; rows: number } | null;
}

export interface BaselineRow {
  /** 'overall', then each domain. */
  group: string;
  queries: number;
  model: number;
  whitenedGallery: number;
  pca: number;
  raw: number;
  /** Null when the model carries no training whitening. */
  whitenedTrain: number | null;
  /** The model scores below a whitened PCA (on the gallery, or on the training data). */
  loses: boolean;
}

export interface BaselineComparison {
  kind: 'computed';
  backbone: string;
  featureDim: number;
  pcaDim: number;
  fittedOn: 'gallery';
  /** Width and training rows of the whitening fitted on the training data; null: the model carries none. */
  train: { k: number; rows: number } | null;
  rows: BaselineRow[];
  metrics: { raw: MetricsReport; pca: MetricsReport; whitenedGallery: MetricsReport; whitenedTrain: MetricsReport | null };
}

export interface BaselineSkipped {
  kind: 'skipped';
  reason: string;
}

export type BaselineOutcome = BaselineComparison | BaselineSkipped;

/** Raw features, PCA and whitened PCA both fitted on `features.index`, and `trainWhitening` when given, each scored by `score`. */
export async function scoreBaselines(features: { queries: Embeddings; index: Embeddings }, score: Scorer, opts: { backbone: string; pcaDim?: number; seed?: number; trainWhitening?: TrainWhitening | null }): Promise<BaselineScores> {
  const { queries, index } = features;
  const dim = index.dim;
  const pcaDim = Math.min(opts.pcaDim ?? 64, dim, index.ids.length - 1);
  const pca = fitPca(index.vectors, dim, pcaDim, { seed: opts.seed ?? DEFAULT_CONFIG.seed });
  const project = (e: Embeddings, whiten: boolean): Embeddings => ({ ids: e.ids, dim: pcaDim, vectors: applyPca(pca, e.vectors, true, whiten) });
  const tw = opts.trainWhitening ?? null;
  if (tw && tw.pca.dim !== dim) throw new Error(`the model's training whitening was fitted on ${tw.pca.dim}-d features; its backbone gives ${dim}-d`);
  const onTrain = (e: Embeddings): Embeddings => ({ ids: e.ids, dim: tw!.pca.k, vectors: applyPca(tw!.pca, e.vectors, true, true) });
  return {
    backbone: opts.backbone,
    featureDim: dim,
    pcaDim,
    raw: await score(queries, index),
    pca: await score(project(queries, false), project(index, false)),
    whitenedGallery: await score(project(queries, true), project(index, true)),
    whitenedTrain: tw ? { report: await score(onTrain(queries), onTrain(index)), k: tw.pca.k, rows: tw.rows } : null,
  };
}

/** The model's mP@5 beside each baseline's, overall then per domain (sorted). */
export function compareToBaselines(model: MetricsReport, b: BaselineScores): BaselineComparison {
  const at = (m: MetricsReport, group: string) => (group === 'overall' ? m.overall : m.byDomain[group])?.mP5 ?? NaN;
  const rows = ['overall', ...Object.keys(model.byDomain).sort()].map((group): BaselineRow => {
    const whitenedTrain = b.whitenedTrain ? at(b.whitenedTrain.report, group) : null;
    const row = { group, queries: (group === 'overall' ? model.overall : model.byDomain[group]).queries, model: at(model, group), whitenedGallery: at(b.whitenedGallery, group), pca: at(b.pca, group), raw: at(b.raw, group), whitenedTrain };
    return { ...row, loses: row.model < row.whitenedGallery || (whitenedTrain !== null && row.model < whitenedTrain) };
  });
  const train = b.whitenedTrain ? { k: b.whitenedTrain.k, rows: b.whitenedTrain.rows } : null;
  return { kind: 'computed', backbone: b.backbone, featureDim: b.featureDim, pcaDim: b.pcaDim, fittedOn: 'gallery', train, rows, metrics: { raw: b.raw, pca: b.pca, whitenedGallery: b.whitenedGallery, whitenedTrain: b.whitenedTrain?.report ?? null } };
}

/** Domains (not 'overall') where the model loses to a whitened PCA (on the gallery, or on the training data). */
export function losingDomains(c: BaselineComparison): string[] {
  return c.rows.filter((r) => r.group !== 'overall' && r.loses).map((r) => r.group);
}

/** Column names shared by the text table, the jig report and the notebook chart (whitenedTrain: null when the model carries none). */
export function baselineLabels(c: Pick<BaselineComparison, 'pcaDim' | 'featureDim' | 'train'>): { whitenedTrain: string | null; whitenedGallery: string; pca: string; raw: string } {
  return {
    whitenedTrain: c.train ? `whitened PCA-${c.train.k} (fitted on ${c.train.rows} training rows)` : null,
    whitenedGallery: `whitened PCA-${c.pcaDim} (fitted on the gallery)`,
    pca: `PCA-${c.pcaDim} (gallery)`,
    raw: `raw ${c.featureDim}-d`,
  };
}

const f4 = (x: number) => x.toFixed(4);

/** Plain-text table (what `guie eval` prints), then one warning line naming the domains where the model loses. */
export function formatBaselines(c: BaselineOutcome): string {
  if (c.kind === 'skipped') return `baselines: skipped: ${c.reason}`;
  const l = baselineLabels(c);
  const heads = ['group', 'queries', 'model', ...(l.whitenedTrain ? [l.whitenedTrain] : []), l.whitenedGallery, l.pca, l.raw];
  const widths = [24, 7, 8, ...heads.slice(3).map((h) => h.length)];
  const line = (cells: string[]) => cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join(' ');
  const losing = losingDomains(c);
  const lostTo = (r: BaselineRow) => [...(r.whitenedTrain !== null && r.model < r.whitenedTrain ? ['on the training data'] : []), ...(r.model < r.whitenedGallery ? ['on the gallery'] : [])].join(' and ');
  return [
    `training-free baselines (untrained ${c.backbone}; ${c.train ? `one whitening fitted on the model's ${c.train.rows} training rows, ` : 'the model carries no training whitening (re-export it from a run of this version for that column); '}the PCAs marked "gallery" fitted on the gallery's features: transductive):`,
    line(heads),
    ...c.rows.map((r) => line([r.group === 'overall' ? 'overall' : `domain:${r.group}`, String(r.queries), `${r.loses ? '<' : ''}${f4(r.model)}`, ...(r.whitenedTrain !== null ? [f4(r.whitenedTrain)] : []), f4(r.whitenedGallery), f4(r.pca), f4(r.raw)])),
    ...(losing.length > 0 ? [`warning: the model loses to a training-free whitened PCA on ${losing.map((d) => `${d} (${lostTo(c.rows.find((r) => r.group === d)!)})`).join(', ')}`] : []),
  ].join('\n');
}
