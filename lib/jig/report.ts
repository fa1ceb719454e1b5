/**
 * The jig's self-contained HTML report: one file, no external assets (thumbnails inlined as data
 * URIs, the projection as inline SVG), so it opens offline and can be mailed around.
 * Per query: the top-k with thumbnails, scores, labels/domains and hit/miss marks; then mP@5
 * overall and per domain, and a 2-D PCA of gallery and query embeddings.
 */
import { baselineLabels, type BaselineOutcome, type BaselineRow } from '../retrieval/baselines';
import type { MetricSet } from '../retrieval/metrics';
import type { PlotlyFigure } from '../viz/plotly';
import type { Gallery, GalleryStats } from './gallery';
import type { JigResult, QueryResult } from './search';
import { escapeHtml } from '../util/html';

const dataUri = (jpeg: Buffer) => `data:image/jpeg;base64,${jpeg.toString('base64')}`;

export const REPORT_CSS = `
.guie-jig{font-family:system-ui,sans-serif;color:#222}
.guie-jig table.metrics{border-collapse:collapse;margin:8px 0}.guie-jig table.metrics td,.guie-jig table.metrics th{border:1px solid #ccc;padding:3px 10px;text-align:right}
.guie-jig .qrow{display:flex;gap:10px;align-items:flex-start;margin:10px 0;padding-bottom:10px;border-bottom:1px solid #eee}
.guie-jig .cell{width:132px;font-size:11px;text-align:center}
.guie-jig .cell img{width:120px;height:120px;object-fit:contain;background:#f3f3f3;border:4px solid #bbb;display:block;margin:0 auto}
.guie-jig .cell.query img{border-color:#1e88e5}.guie-jig .cell.hit img{border-color:#2e7d32}.guie-jig .cell.miss img{border-color:#c62828}
.guie-jig .mark{font-weight:bold}.guie-jig .hit .mark{color:#2e7d32}.guie-jig .miss .mark{color:#c62828}
.guie-jig .sep{width:2px;align-self:stretch;background:#ddd}
.guie-jig td.lose{background:#fde0dc;color:#b71c1c}
.guie-jig .cell div{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
`;

/** A thumbnail card; long lines are cut with an ellipsis and `title` (the full file name) shows on hover. */
function cell(cls: string, img: Buffer | undefined, lines: string[], title: string): string {
  return `<div class="cell ${cls}" title="${escapeHtml(title)}">${img ? `<img src="${dataUri(img)}" alt="">` : ''}${lines.map((l) => `<div>${l}</div>`).join('')}</div>`;
}

const tag = (label?: string, domain?: string) => escapeHtml([label, domain].filter((x) => x !== undefined).join(' · '));

/** One query with its top-k (also what the notebook displays per query). */
export function queryRowHtml(q: QueryResult, gallery: Gallery): string {
  const matches = q.matches.map((m, i) => {
    const cls = m.hit === undefined ? '' : m.hit ? 'hit' : 'miss';
    const mark = m.hit === undefined ? '' : `<span class="mark">${m.hit ? '✓' : '✗'}</span> `;
    return cell(cls, gallery.thumbnail(m.index), [`${mark}#${i + 1} · ${m.score.toFixed(3)}`, tag(m.label, m.domain), `<small>${escapeHtml(m.key)}</small>`], m.key);
  });
  return `<div class="qrow">${cell('query', q.thumb, ['<b>query</b>', tag(q.label, q.domain), `<small>${escapeHtml(q.key)}</small>`], q.key)}<div class="sep"></div>${matches.join('')}</div>`;
}

const f3 = (x: number) => x.toFixed(3);

/** The model's mP@5 cell (marked where it loses to the whitened baseline), then the baselines' mP@5 cells. */
function mP5Cells(m: MetricSet, b: BaselineRow | undefined): string {
  if (!b) return `<td><b>${f3(m.mP5)}</b></td>`;
  const model = b.loses ? `<td class="lose" title="loses to a whitened PCA (fitted on the training data or on the gallery)"><b>${f3(m.mP5)}</b> ▼</td>` : `<td><b>${f3(m.mP5)}</b></td>`;
  return `${model}${b.whitenedTrain !== null ? `<td>${f3(b.whitenedTrain)}</td>` : ''}<td>${f3(b.whitenedGallery)}</td><td>${f3(b.pca)}</td><td>${f3(b.raw)}</td>`;
}

function baselineNote(b: BaselineOutcome | undefined): string {
  if (!b) return '';
  if (b.kind === 'skipped') return `<p>Training-free baselines skipped: ${escapeHtml(b.reason)}.</p>`;
  const train = b.train ? `one whitened PCA fitted on the model's ${b.train.rows} training rows, ` : 'no whitening fitted on the training data (the model carries none), ';
  return `<p>Baselines: the untrained ${escapeHtml(b.backbone)} on the same images: ${train}the PCAs marked "gallery" fitted on the gallery's features (transductive); ▼ marks where the model loses to a whitened PCA.</p>`;
}

export function metricsTableHtml(r: JigResult): string {
  if (!r.metrics) return `<p>No ground truth: no query label occurs in the gallery, so nothing is scored.</p>`;
  const b = r.baselines?.kind === 'computed' ? r.baselines : undefined;
  const rowOf = (group: string) => b?.rows.find((x) => x.group === group);
  const row = (name: string, m: MetricSet, group: string) => `<tr><th style="text-align:left">${escapeHtml(name)}</th><td>${m.queries}</td>${mP5Cells(m, rowOf(group))}<td>${f3(m.recall['1'])}</td><td>${f3(m.recall['5'])}</td><td>${f3(m.mAP100)}</td></tr>`;
  const domains = Object.entries(r.metrics.byDomain).map(([d, m]) => row(d, m, d));
  const l = b ? baselineLabels(b) : undefined;
  const heads = l ? `<th>mP@5 model</th>${l.whitenedTrain ? `<th>${escapeHtml(l.whitenedTrain)}</th>` : ''}<th>${escapeHtml(l.whitenedGallery)}</th><th>${escapeHtml(l.pca)}</th><th>${escapeHtml(l.raw)}</th>` : '<th>mP@5</th>';
  return `<table class="metrics"><tr><th></th><th>queries</th>${heads}<th>recall@1</th><th>recall@5</th><th>mAP@100</th></tr>${row('overall', r.metrics.overall, 'overall')}${domains.join('')}</table>
${baselineNote(r.baselines)}${r.skipped.length > 0 ? `<p>${r.skipped.length} query file${r.skipped.length === 1 ? '' : 's'} did not decode and ${r.skipped.length === 1 ? 'is' : 'are'} left out: ${r.skipped.slice(0, 5).map((k) => escapeHtml(k.reason)).join('; ')}${r.skipped.length > 5 ? '; …' : ''}</p>` : ''}${r.unjudged > 0 ? `<p>${r.unjudged} queries have no ground truth (no label, or a label absent from the gallery): shown below, not scored.</p>` : ''}`;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#aec7e8', '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5', '#c49c94', '#f7b6d2', '#c7c7c7', '#dbdb8d', '#9edae5'];

/** Gallery points coloured by domain (or label), queries as crosses in their domain's colour; hover titles name each point. */
export function projectionSvg(r: JigResult, gallery: Gallery, size = 520): string {
  const { gallery: gp, queries: qp } = r.projection;
  const all = [...gp, ...qp];
  if (all.length === 0) return '';
  const xs = all.filter((_, i) => i % 2 === 0);
  const ys = all.filter((_, i) => i % 2 === 1);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = 16;
  const sx = (x: number) => pad + ((x - x0) / (x1 - x0 || 1)) * (size - 2 * pad);
  const sy = (y: number) => size - pad - ((y - y0) / (y1 - y0 || 1)) * (size - 2 * pad);
  const groupOf = (i: number) => gallery.items[i].domain ?? gallery.items[i].label ?? '';
  const groups = [...new Set(gallery.items.map((_, i) => groupOf(i)))].sort();
  const colour = (g: string) => PALETTE[groups.indexOf(g) % PALETTE.length];
  const dots = gallery.items.map(
    (it, i) => `<circle cx="${sx(gp[2 * i]).toFixed(1)}" cy="${sy(gp[2 * i + 1]).toFixed(1)}" r="4" fill="${colour(groupOf(i))}" fill-opacity="0.75"><title>${escapeHtml(it.key)}</title></circle>`,
  );
  // a query's cross takes its domain's (or label's) colour over a black outline, so it reads on any dot
  const crosses = r.queries.map((q, i) => {
    const [x, y] = [sx(qp[2 * i]), sy(qp[2 * i + 1])];
    const d = `M${x - 5},${y - 5}L${x + 5},${y + 5}M${x - 5},${y + 5}L${x + 5},${y - 5}`;
    const g = q.domain ?? q.label ?? '';
    return `<g class="query" data-group="${escapeHtml(g)}"><title>query ${escapeHtml(q.key)}</title><path d="${d}" stroke="#000" stroke-width="4"/><path d="${d}" stroke="${groups.includes(g) ? colour(g) : '#000'}" stroke-width="2"/></g>`;
  });
  const legend = groups.slice(0, 20).map((g, i) => `<text x="${size + 10}" y="${20 + i * 16}" font-size="12" fill="${colour(g)}">● ${escapeHtml(g)}</text>`);
  const explained = r.projection.explained ? `<text x="${size + 10}" y="${size - 10}" font-size="11">PC1 ${(100 * r.projection.explained[0]).toFixed(0)}%, PC2 ${(100 * r.projection.explained[1]).toFixed(0)}% of variance</text>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size + 200}" height="${size}" style="border:1px solid #ddd;background:#fff">${dots.join('')}${crosses.join('')}${legend.join('')}<text x="${size + 10}" y="${20 + legend.length * 16 + 8}" font-size="12">✕ queries (by domain)</text>${explained}</svg>`;
}

/** The same projection as a Plotly figure (notebook 07): gallery points and query crosses, both coloured by domain (or label), hover naming each file. */
export function jigProjectionFigure(r: JigResult, gallery: Gallery): PlotlyFigure {
  const { gallery: gp, queries: qp } = r.projection;
  const groupOf = (i: number) => gallery.items[i].domain ?? gallery.items[i].label ?? '';
  const groups = [...new Set(gallery.items.map((_, i) => groupOf(i)))].sort();
  const colour = (g: string) => PALETTE[Math.max(0, groups.indexOf(g)) % PALETTE.length];
  const traces = (what: 'gallery' | 'queries', keys: string[], group: (i: number) => string, points: Float32Array) =>
    [...new Set(keys.map((_, i) => group(i)))].sort().map((g) => {
      const idx = keys.map((_, i) => i).filter((i) => group(i) === g);
      return {
        type: 'scatter',
        mode: 'markers',
        name: what === 'gallery' ? g || '(none)' : `queries ${g || '(none)'}`,
        legendgroup: g,
        x: idx.map((i) => points[2 * i]),
        y: idx.map((i) => points[2 * i + 1]),
        text: idx.map((i) => keys[i]),
        hoverinfo: 'text',
        marker: what === 'gallery' ? { size: 7, opacity: 0.75, color: colour(g) } : { size: 11, symbol: 'x', color: colour(g), line: { width: 1, color: '#000' } },
      };
    });
  const axis = (c: 0 | 1) => (r.projection.explained ? `PC${c + 1} (${(100 * r.projection.explained[c]).toFixed(0)}% of variance)` : `PC${c + 1}`);
  return {
    data: [...traces('gallery', gallery.items.map((it) => it.key), groupOf, gp), ...traces('queries', r.queries.map((q) => q.key), (i) => r.queries[i].domain ?? r.queries[i].label ?? '', qp)],
    layout: { title: { text: 'gallery (dots) and queries (crosses) by domain, PCA' }, xaxis: { title: { text: axis(0) } }, yaxis: { title: { text: axis(1) } } },
  };
}

export function jigReportHtml(r: JigResult, gallery: Gallery, title = 'GUIE retrieval jig'): string {
  const s: GalleryStats = gallery.stats();
  const overall = r.metrics ? ` · mP@5 ${f3(r.metrics.overall.mP5)}` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>body{margin:24px}${REPORT_CSS}</style></head>
<body class="guie-jig"><h1>${escapeHtml(title)}</h1>
<p>Gallery <code>${escapeHtml(s.source)}</code>: ${s.size} images, ${s.labels} labels, ${Object.keys(s.domains).length} domains · embedder <b>${escapeHtml(s.embedder)}</b> (${s.dim}-d) · index ${s.fingerprint}${s.cached ? ' (cached)' : ''} · ${r.queries.length} queries, top-${r.k}${overall}</p>
<h2>Scores</h2>${metricsTableHtml(r)}
<h2>Embedding projection (PCA)</h2>${projectionSvg(r, gallery)}
<h2>Queries</h2>${r.queries.map((q) => queryRowHtml(q, gallery)).join('\n')}
</body></html>
`;
}
