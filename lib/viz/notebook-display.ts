/**
 * Figures in notebook cells as Plotly's own MIME bundle (`application/vnd.plotly.v1+json` with a
 * `text/plain` fallback), sent through the tslab kernel the way Plotly's Python renderer does it:
 * JupyterLab (with Plotly's lab extension), VS Code and nteract draw them natively, and an executed
 * notebook keeps the figure's data, never the 10 MB plotly.js. tslab's own `display.raw` sends one
 * string per output, so the bundle goes through the kernel's display writer, as `display.raw` does.
 */
import { randomBytes } from 'crypto';
import type { PlotlyFigure } from './plotly';

export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

type DisplayWriter = (msg: { data: Record<string, unknown>; metadata: Record<string, unknown>; transient: { display_id?: string } }, update: boolean) => void;

/** The figure as a Jupyter MIME bundle: Plotly's JSON (layout height set) and a one-line text fallback. */
export function plotlyMimeBundle(fig: PlotlyFigure, height = 420): Record<string, unknown> {
  const layout: Record<string, unknown> = { height, ...fig.layout };
  const title = layout.title as string | { text?: string } | undefined;
  const name = typeof title === 'string' ? title : title?.text;
  return {
    [PLOTLY_MIME]: { data: fig.data, layout, config: { responsive: true, ...fig.config } },
    'text/plain': `Plotly figure${name ? ` "${name}"` : ''}: ${fig.data.length} trace${fig.data.length === 1 ? '' : 's'} (JupyterLab with the plotly extension, VS Code or nteract draw it)`,
  };
}

/** The running tslab kernel's display writer (the module tslab's `display` uses), or an error outside a kernel. */
function writer(): DisplayWriter {
  // loaded lazily: the CLI never needs tslab
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: DisplayWriter | null };
  if (!jupyter.lastWriteDisplayData) throw new Error('showFigure: not inside a tslab notebook cell (no kernel display)');
  return jupyter.lastWriteDisplayData;
}

/** Shows `fig` below the running cell. */
export function showFigure(fig: PlotlyFigure, height?: number): void {
  writer()({ data: plotlyMimeBundle(fig, height), metadata: {}, transient: {} }, false);
}

/** A figure that redraws in place (training curves while they grow): each `show` replaces the last. */
export function liveFigure(): { show(fig: PlotlyFigure, height?: number): void } {
  const id = randomBytes(8).toString('hex');
  let shown = false;
  return {
    show(fig, height) {
      writer()({ data: plotlyMimeBundle(fig, height), metadata: {}, transient: { display_id: id } }, shown);
      shown = true;
    },
  };
}
