/**
 * Plotly figures as plain data, rendered to self-contained HTML pages (no CDN: machines may be offline;
 * the 10 MB bundle is inlined once per page). Notebook cells get Plotly's MIME bundle instead
 * (notebook-display.ts): no plotly.js in the executed notebook.
 */
import * as fs from 'fs';

export interface PlotlyFigure {
  data: Array<Record<string, unknown>>;
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

let bundle: string | undefined;
export function plotlyBundle(): string {
  bundle ??= fs.readFileSync(require.resolve('plotly.js-dist/plotly.js'), 'utf8');
  return bundle;
}

/** `<script>` is closed by the literal "</script>": escape it inside inlined JSON/JS. */
export function scriptSafe(s: string): string {
  return s.replace(/<\/script/gi, '<\\/script');
}

let counter = 0;
/** One figure as a `<div>` + script. `withBundle` inlines plotly itself (first figure on a page). */
export function figureHtml(fig: PlotlyFigure, opts: { withBundle?: boolean; height?: number } = {}): string {
  const id = `guie-plot-${process.pid}-${++counter}`;
  const height = opts.height ?? 420;
  const bundleTag = opts.withBundle ? `<script>${scriptSafe(plotlyBundle())}</script>` : '';
  const json = scriptSafe(JSON.stringify({ data: fig.data, layout: { height, ...fig.layout }, config: { responsive: true, ...fig.config } }));
  return `${bundleTag}<div id="${id}" style="width:100%;height:${height}px"></div><script>(function(){var f=${json};Plotly.react("${id}",f.data,f.layout,f.config);})();</script>`;
}

/** A whole standalone HTML page of figures and extra HTML blocks. */
export function pageHtml(title: string, blocks: Array<PlotlyFigure | string>): string {
  const body = blocks
    .map((b) => (typeof b === 'string' ? b : figureHtml(b, { withBundle: false })))
    .join('\n');
  const needsPlotly = blocks.some((b) => typeof b !== 'string');
  const esc = title.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc}</title>${needsPlotly ? `<script>${scriptSafe(plotlyBundle())}</script>` : ''}
<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head>
<body><h1>${esc}</h1>\n${body}\n</body></html>\n`;
}
