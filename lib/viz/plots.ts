/** Retrieval diagnostics as Plotly figure specs (render with plotly.ts). */
import type { MetricsReport } from '../retrieval/metrics';
import type { PlotlyFigure } from './plotly';

export interface PairSimilarities {
  /** Cosine similarities of same-label pairs. */
  positive: number[];
  /** Cosine similarities of different-label pairs. */
  negative: number[];
}

/**
 * Cosine similarities of labelled unit vectors: every same-label pair and every different-label
 * pair when the count stays under `maxPairs`, else an evenly strided subset of each kind.
 */
export function pairSimilarities(vectors: Float32Array, dim: number, labels: readonly string[], maxPairs = 200_000): PairSimilarities {
  const n = labels.length;
  if (vectors.length !== n * dim) throw new Error(`pairSimilarities: ${n} labels but ${vectors.length / dim} vectors`);
  let nPos = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (labels[i] === labels[j]) nPos++;
  const nNeg = (n * (n - 1)) / 2 - nPos;
  const posStride = Math.max(1, Math.ceil(nPos / maxPairs));
  const negStride = Math.max(1, Math.ceil(nNeg / maxPairs));
  const out: PairSimilarities = { positive: [], negative: [] };
  let p = 0;
  let q = 0;
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const same = labels[i] === labels[j];
      if (same ? p++ % posStride !== 0 : q++ % negStride !== 0) continue;
      let s = 0;
      for (let d = 0; d < dim; d++) s += vectors[i * dim + d] * vectors[j * dim + d];
      (same ? out.positive : out.negative).push(s);
    }
  return out;
}

/** Overlaid density histograms of positive and negative similarities. */
export function similarityHistogramFigure(s: PairSimilarities, title = 'cosine similarity: same class vs different class'): PlotlyFigure {
  const trace = (name: string, x: number[], color: string) => ({
    type: 'histogram',
    name: `${name} (${x.length} pairs)`,
    x,
    histnorm: 'probability density',
    opacity: 0.6,
    xbins: { start: -1, end: 1, size: 0.02 },
    marker: { color },
  });
  return {
    data: [trace('positive', s.positive, '#2ca02c'), trace('negative', s.negative, '#d62728')],
    layout: { title: { text: title }, barmode: 'overlay', xaxis: { title: { text: 'cosine similarity' }, range: [-1, 1] }, yaxis: { title: { text: 'density' } } },
  };
}

/** mP@5 and mAP@100 per group (Usage split or domain) as grouped bars. */
export function metricsBarFigure(report: MetricsReport, by: 'byDomain' | 'byUsage' = 'byDomain'): PlotlyFigure {
  const groups = ['overall', ...Object.keys(report[by])];
  const sets = [report.overall, ...Object.values(report[by])];
  return {
    data: [
      { type: 'bar', name: 'mP@5', x: groups, y: sets.map((m) => m.mP5), text: sets.map((m) => m.mP5.toFixed(3)), textposition: 'auto' },
      { type: 'bar', name: 'mAP@100', x: groups, y: sets.map((m) => m.mAP100), text: sets.map((m) => m.mAP100.toFixed(3)), textposition: 'auto' },
    ],
    layout: { title: { text: by === 'byDomain' ? 'retrieval by domain' : 'retrieval by leaderboard split' }, barmode: 'group', yaxis: { range: [0, 1] } },
  };
}

/** mP@5 per domain of several models side by side (a trained model beside its training-free baselines). */
export function domainComparisonFigure(reports: Record<string, MetricsReport>, title = 'mP@5 by domain: trained vs training-free'): PlotlyFigure {
  const domains = [...new Set(Object.values(reports).flatMap((r) => Object.keys(r.byDomain)))].sort();
  const groups = ['overall', ...domains];
  return {
    data: Object.entries(reports).map(([name, r]) => {
      const y = groups.map((g) => (g === 'overall' ? r.overall.mP5 : (r.byDomain[g]?.mP5 ?? 0)));
      return { type: 'bar', name, x: groups, y, text: y.map((v) => v.toFixed(3)), textposition: 'auto' };
    }),
    layout: { title: { text: title }, barmode: 'group', yaxis: { range: [0, 1], title: { text: 'mP@5' } } },
  };
}
