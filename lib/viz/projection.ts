/**
 * 2-D views of embeddings: PCA (exact, via a Jacobi eigen-decomposition of the dim x dim
 * covariance) and UMAP (umap-js, seeded), and a Plotly scatter coloured by class or domain.
 */
import { UMAP } from 'umap-js';
import type { PlotlyFigure } from './plotly';
import { Rng } from '../util/random';

export interface Projection {
  /** n*2 row-major coordinates. */
  points: Float32Array;
  /** PCA only: share of total variance along each axis. */
  explained?: [number, number];
}

/** Eigen-decomposition of a symmetric matrix (row-major, float64) by cyclic Jacobi rotations. */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i];
  return { values, vectors: v };
}

/** Projection onto the top-2 principal axes; each axis's sign makes its largest loading positive. */
export function pca2(vectors: Float32Array, dim: number): Projection {
  const n = vectors.length / dim;
  if (!Number.isInteger(n) || n < 2) throw new Error(`pca2: need at least 2 rows of dim ${dim}, got ${vectors.length} floats`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += vectors[i * dim + j] / n;
  const cov = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) row[j] = vectors[i * dim + j] - mean[j];
    for (let a = 0; a < dim; a++) for (let b = a; b < dim; b++) cov[a * dim + b] += (row[a] * row[b]) / (n - 1);
  }
  for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) cov[a * dim + b] = cov[b * dim + a];
  const { values, vectors: ev } = symmetricEigen(cov, dim);
  const order = Array.from(values.keys()).sort((a, b) => values[b] - values[a]);
  const axes = order.slice(0, 2).map((c) => {
    const axis = Array.from({ length: dim }, (_, j) => ev[j * dim + c]);
    const big = axis.reduce((best, x) => (Math.abs(x) > Math.abs(best) ? x : best), 0);
    return big < 0 ? axis.map((x) => -x) : axis;
  });
  const points = new Float32Array(n * 2);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += (vectors[i * dim + j] - mean[j]) * axes[c][j];
      points[i * 2 + c] = s;
    }
  const total = values.reduce((a, b) => a + Math.max(b, 0), 0) || 1;
  return { points, explained: [values[order[0]] / total, values[order[1]] / total] };
}

export interface UmapOptions {
  nNeighbors?: number;
  minDist?: number;
  nEpochs?: number;
  seed?: number;
}



export function umap2(vectors: Float32Array, dim: number, opts: UmapOptions = {}): Projection {
  const n = vectors.length / dim;
  if (!Number.isInteger(n) || n < 3) throw new Error(`umap2: need at least 3 rows of dim ${dim}, got ${vectors.length} floats`);
  const rows = Array.from({ length: n }, (_, i) => Array.from(vectors.subarray(i * dim, (i + 1) * dim)));
  const rand = new Rng(opts.seed ?? 42);
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: Math.min(opts.nNeighbors ?? 15, n - 1),
    minDist: opts.minDist ?? 0.1,
    nEpochs: opts.nEpochs,
    random: () => rand.float(),
  });
  const out = umap.fit(rows);
  return { points: Float32Array.from(out.flat()) };
}

/** Scatter of a projection, one trace (colour) per label; hover shows each point's id. */
export function projectionFigure(p: Projection, labels: readonly string[], opts: { title?: string; ids?: readonly string[] } = {}): PlotlyFigure {
  const groups = new Map<string, number[]>();
  labels.forEach((l, i) => (groups.get(l) ?? groups.set(l, []).get(l)!).push(i));
  const axis = (c: 0 | 1) => (p.explained ? `PC${c + 1} (${(100 * p.explained[c]).toFixed(1)}%)` : `dim ${c + 1}`);
  return {
    data: [...groups.keys()].sort().map((label) => {
      const idx = groups.get(label)!;
      return {
        type: 'scattergl',
        mode: 'markers',
        name: label,
        x: idx.map((i) => p.points[i * 2]),
        y: idx.map((i) => p.points[i * 2 + 1]),
        text: opts.ids ? idx.map((i) => opts.ids![i]) : undefined,
        marker: { size: 6, opacity: 0.8 },
      };
    }),
    layout: { title: { text: opts.title ?? 'embedding projection' }, xaxis: { title: { text: axis(0) } }, yaxis: { title: { text: axis(1) } } },
  };
}
