/** Projections, similarity plots and the retrieval grid, on data whose answers are known. */
import sharp from 'sharp';
import { figureHtml, pageHtml } from '../../lib/viz/plotly';
import { retrievalGridHtml, retrievalGridRows, thumbnailDataUri } from '../../lib/viz/grid';
import { metricsBarFigure, pairSimilarities, similarityHistogramFigure } from '../../lib/viz/plots';
import { projectionFigure, symmetricEigen, umap2 } from '../../lib/viz/projection';
import { retrievalMetrics } from '../../lib/retrieval/metrics';
import { l2Normalize } from '../../lib/retrieval/vector-index';
import { gaussian } from '../../lib/util/random';

const dim = 16;
function clusters(perClass: number, classes: number, spread: number) {
  const centres = gaussian(classes * dim, 1).map((v) => v * 3);
  const z = gaussian(perClass * classes * dim, 2);
  const v = new Float32Array(perClass * classes * dim);
  const labels: string[] = [];
  for (let i = 0; i < perClass * classes; i++) {
    labels.push(`c${i % classes}`);
    for (let j = 0; j < dim; j++) v[i * dim + j] = centres[(i % classes) * dim + j] + spread * z[i * dim + j];
  }
  return { v: l2Normalize(v, dim), labels };
}

test('symmetricEigen recovers A = V diag(w) Vᵀ', () => {
  const n = 6;
  const b = gaussian(n * n, 4);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += b[i * n + k] * b[j * n + k];
  const { values, vectors } = symmetricEigen(a, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[i * n + k] * values[k] * vectors[j * n + k];
      expect(s).toBeCloseTo(a[i * n + j], 9);
    }
});

test('umap2 separates clusters (2-D nearest neighbour shares the label) and is reproducible', () => {
  const { v, labels } = clusters(20, 4, 0.3);
  const a = umap2(v, dim, { seed: 7, nEpochs: 200 });
  const b = umap2(v, dim, { seed: 7, nEpochs: 200 });
  expect(Array.from(a.points)).toEqual(Array.from(b.points));
  let agree = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = -1;
    let bestD = Infinity;
    for (let j = 0; j < labels.length; j++) {
      if (j === i) continue;
      const d = (a.points[i * 2] - a.points[j * 2]) ** 2 + (a.points[i * 2 + 1] - a.points[j * 2 + 1]) ** 2;
      if (d < bestD) (bestD = d), (best = j);
    }
    if (labels[best] === labels[i]) agree++;
  }
  expect(agree / labels.length).toBeGreaterThanOrEqual(0.95);
  const fig = projectionFigure(a, labels, { title: 'umap' });
  expect(fig.data.map((t) => t.name)).toEqual(['c0', 'c1', 'c2', 'c3']);
  expect((fig.data[0].x as number[]).length).toBe(20);
});

test('pairSimilarities: every pair once, split by label, values are dot products; subsampling caps counts', () => {
  const { v, labels } = clusters(5, 3, 0.5); // 15 points: 3*C(5,2)=30 positive, 105-30=75 negative
  const s = pairSimilarities(v, dim, labels);
  expect(s.positive).toHaveLength(30);
  expect(s.negative).toHaveLength(75);
  let d01 = 0;
  for (let j = 0; j < dim; j++) d01 += v[j] * v[dim + j];
  expect(s.negative[0]).toBeCloseTo(d01, 6); // pair (0,1): labels c0, c1
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  expect(mean(s.positive)).toBeGreaterThan(mean(s.negative));
  const capped = pairSimilarities(v, dim, labels, 10);
  expect(capped.positive.length).toBeLessThanOrEqual(10);
  expect(capped.negative.length).toBeLessThanOrEqual(10);
  const fig = similarityHistogramFigure(s);
  expect(fig.data.map((t) => t.name)).toEqual(['positive (30 pairs)', 'negative (75 pairs)']);
  expect(figureHtml(fig)).toContain('"histnorm":"probability density"');
});

test('metricsBarFigure carries the report numbers', () => {
  const m = <T>(o: Record<string, T>) => new Map(Object.entries(o));
  const rep = retrievalMetrics(m({ a: ['x'], b: ['n'] }), m({ a: ['x'], b: ['y'] }), { domain: m({ a: 'cars', b: 'toys' }) });
  const fig = metricsBarFigure(rep);
  expect(fig.data[0].x).toEqual(['overall', 'cars', 'toys']);
  expect(fig.data[0].y).toEqual([0.5, 1, 0]);
});

test('retrieval grid: green hits, red misses, scores, escaped ids, real thumbnails', async () => {
  const red = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
  const uri = await thumbnailDataUri(red, 32);
  const thumb = await sharp(Buffer.from(uri.split(',')[1], 'base64')).raw().toBuffer({ resolveWithObject: true });
  expect([thumb.info.width, thumb.info.height]).toEqual([32, 16]);
  expect(thumb.data[0]).toBeGreaterThan(240);
  const rgbUri = await thumbnailDataUri({ data: new Uint8Array(4 * 4 * 3).fill(128), width: 4, height: 4 }, 8);
  expect(rgbUri.startsWith('data:image/jpeg;base64,')).toBe(true);

  const result = { nq: 2, k: 3, indices: Int32Array.from([0, 2, 1, 1, -1, -1]), scores: Float32Array.from([0.9, 0.5, 0.25, 0.8, -Infinity, -Infinity]) };
  const rows = await retrievalGridRows(['q<1>', 'q2'], result, ['a', 'b', 'c'], new Map([['q<1>', ['a', 'b']], ['q2', ['c']]]), async (id) => `img/${id}.jpg`, 3);
  expect(rows[0].neighbours.map((n) => [n.id, n.hit])).toEqual([['a', true], ['c', false], ['b', true]]);
  expect(rows[0].precision).toBe(0.5); // n_q=2: window of 2 -> a hit, c miss
  expect(rows[1].neighbours).toHaveLength(1);
  const html = retrievalGridHtml(rows, { title: 'top-3' });
  expect(html.match(/<tr>/g)).toHaveLength(2);
  expect(html.match(/#2ca02c/g)).toHaveLength(2);
  expect(html.match(/#d62728/g)).toHaveLength(2);
  expect(html).toContain('0.900');
  expect(html).toContain('q&#60;1&#62;');
  expect(html).not.toContain('q<1>');
  expect(pageHtml('grid', [html])).toContain('guie-retrieval-grid');
});
