/**
 * Plotly figures as plain data, rendered to HTML pages that load plotly.js from a copy beside them (no CDN:
 * machines may be offline; the 10 MB library is copied once per folder, never pasted into a page). Notebook
 * cells get Plotly's MIME bundle instead (notebook-display.ts): no plotly.js in the executed notebook.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../util/atomic';
import { escapeHtml } from '../util/html';

export interface PlotlyFigure {
  data: Array<Record<string, unknown>>;
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

/** The page's copy of plotly.js, beside it (reports load it by a relative <script src>, never inlined). */
export const PLOTLY_FILE = 'plotly.js';

/** `<script>` is closed by the literal "</script>": escape it inside inlined JSON/JS. */
export function scriptSafe(s: string): string {
  return s.replace(/<\/script/gi, '<\\/script');
}

let counter = 0;
/** One figure as a `<div>` + script (the page loads plotly.js once). */
export function figureHtml(fig: PlotlyFigure, opts: { height?: number } = {}): string {
  const id = `guie-plot-${process.pid}-${++counter}`;
  const height = opts.height ?? 420;
  const json = scriptSafe(JSON.stringify({ data: fig.data, layout: { height, ...fig.layout }, config: { responsive: true, ...fig.config } }));
  return `<div id="${id}" style="width:100%;height:${height}px"></div><script>(function(){var f=${json};Plotly.react("${id}",f.data,f.layout,f.config);})();</script>`;
}

/** A whole HTML page of figures and extra HTML blocks; figures load plotly.js from PLOTLY_FILE beside the page (writePage puts it there). */
export function pageHtml(title: string, blocks: Array<PlotlyFigure | string>): string {
  const body = blocks.map((b) => (typeof b === 'string' ? b : figureHtml(b))).join('\n');
  const needsPlotly = blocks.some((b) => typeof b !== 'string');
  const safeTitle = escapeHtml(title);
  return `<!doctype html><html><head><meta charset="utf-8"><title>${safeTitle}</title>${needsPlotly ? `<script src="${PLOTLY_FILE}"></script>` : ''}
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head>
<body><h1>${safeTitle}</h1>\n${body}\n</body></html>\n`;
}

/** Writes the page to `file` and, once per folder, plotly.js beside it (offline: no CDN). */
export function writePage(file: string, title: string, blocks: Array<PlotlyFigure | string>): void {
  const lib = path.join(path.dirname(file), PLOTLY_FILE);
  const src = require.resolve('plotly.js-dist/plotly.js');
  if (blocks.some((b) => typeof b !== 'string') && fs.statSync(lib, { throwIfNoEntry: false })?.size !== fs.statSync(src).size) writeFileAtomic(lib, fs.readFileSync(src));
  writeFileAtomic(file, pageHtml(title, blocks));
}
