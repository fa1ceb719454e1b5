/** Views of records for notebooks and reports: class-size histograms, shard tables, sample grids. */
import sharp from 'sharp';
import type { PlotlyFigure } from '../viz/plotly';
import type { Manifest } from './builders/build';
import type { Sample } from './pipeline';
import { escapeHtml } from '../util/html';

/** Distribution of images per class, one histogram trace per source. */
export function classSizeFigure(manifest: Manifest): PlotlyFigure {
  return {
    data: manifest.sources.map((s) => ({
      type: 'histogram',
      name: `${s.name} (labels ${s.labelRange[0]}-${s.labelRange[1]})`,
      x: s.classes.map((c) => c.count),
      opacity: 0.7,
    })),
    layout: { title: { text: 'Images per class' }, barmode: 'overlay', xaxis: { title: { text: 'images in class' } }, yaxis: { title: { text: 'classes' } } },
  };
}


/** A plain HTML table (first row = header). */
export function htmlTable(rows: Array<Array<string | number>>): string {
  const [head, ...body] = rows;
  const cells = (r: Array<string | number>, tag: string) => `<tr>${r.map((c) => `<${tag}>${escapeHtml(String(c))}</${tag}>`).join('')}</tr>`;
  return `<table style="border-collapse:collapse">${cells(head, 'th')}${body.map((r) => cells(r, 'td')).join('')}</table>`;
}

/** Samples' uint8 pixels as a grid of inline JPEG thumbnails captioned with id and label. */
export async function sampleGridHtml(samples: Sample[], size: number, columns = 8): Promise<string> {
  const cells = await Promise.all(
    samples.map(async (s) => {
      const jpg = await sharp(s.pixels, { raw: { width: size, height: size, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
      return `<figure style="margin:2px;text-align:center;font:11px sans-serif"><img src="data:image/jpeg;base64,${jpg.toString('base64')}" width="${size}" height="${size}"><figcaption>${escapeHtml(s.id)}<br>label ${s.label}</figcaption></figure>`;
    }),
  );
  return `<div style="display:grid;grid-template-columns:repeat(${columns},${size + 8}px)">${cells.join('')}</div>`;
}
