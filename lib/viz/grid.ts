/**
 * Retrieval grid: one row per query, the query thumbnail then its top-k neighbours with scores,
 * green border for a relevant neighbour, red for a miss. Self-contained HTML (data-URI images).
 */
import sharp from 'sharp';
import type { RgbImage } from '../core/rgb-image';
import { calibratedPrecisionAt, Relevance } from '../retrieval/metrics';
import type { SearchResult } from '../retrieval/vector-index';
import { escapeHtml } from '../util/html';

export interface GridCell {
  id: string;
  /** Image URL or data URI. */
  src: string;
  score?: number;
  /** true = relevant (green), false = miss (red), undefined = query/unknown. */
  hit?: boolean;
}

export interface GridRow {
  query: GridCell;
  neighbours: GridCell[];
  /** Calibrated precision@k of this query, shown beside it. */
  precision?: number;
}


/** A JPEG thumbnail (longest side `size`) as a data URI, from a file, encoded bytes or raw RGB. */
export async function thumbnailDataUri(input: string | Uint8Array | RgbImage, size = 96): Promise<string> {
  const img =
    typeof input === 'string' || input instanceof Uint8Array
      ? sharp(input)
      : sharp(Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength), { raw: { width: input.width, height: input.height, channels: 3 } });
  const jpeg = await img.resize(size, size, { fit: 'inside' }).jpeg({ quality: 80 }).toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}

export function retrievalGridHtml(rows: readonly GridRow[], opts: { thumb?: number; title?: string } = {}): string {
  const px = opts.thumb ?? 96;
  const cell = (c: GridCell, role: 'query' | 'neighbour') => {
    const colour = c.hit === true ? '#2ca02c' : c.hit === false ? '#d62728' : '#1f77b4';
    const caption = role === 'query' ? escapeHtml(c.id) : `${escapeHtml(c.id)}<br>${c.score === undefined ? '' : c.score.toFixed(3)}`;
    return (
      `<td style="padding:4px;text-align:center;vertical-align:top;font:11px system-ui,sans-serif">` +
      `<img src="${escapeHtml(c.src)}" alt="${escapeHtml(c.id)}" style="width:${px}px;height:${px}px;object-fit:contain;border:4px solid ${colour};background:#f4f4f4"><br>${caption}</td>`
    );
  };
  const body = rows
    .map((r) => {
      const p = r.precision === undefined ? '' : `<td style="font:12px system-ui,sans-serif;padding:0 8px">P=${r.precision.toFixed(2)}</td>`;
      return `<tr>${cell(r.query, 'query')}${p}<td style="width:12px"></td>${r.neighbours.map((n) => cell(n, 'neighbour')).join('')}</tr>`;
    })
    .join('\n');
  const title = opts.title ? `<h3 style="font-family:system-ui,sans-serif">${escapeHtml(opts.title)}</h3>` : '';
  return `${title}<table class="guie-retrieval-grid" style="border-collapse:collapse">\n${body}\n</table>`;
}

/** Grid rows from a search: hits marked against the solution, thumbnails fetched per id. */
export async function retrievalGridRows(
  queryIds: readonly string[],
  result: SearchResult,
  indexIds: readonly string[],
  relevance: Relevance,
  thumb: (id: string, role: 'query' | 'index') => Promise<string>,
  k = 5,
): Promise<GridRow[]> {
  const precision = calibratedPrecisionAt(k);
  return Promise.all(
    queryIds.map(async (qid, q) => {
      const relevant = new Set(relevance.get(qid) ?? []);
      const neighbours: GridCell[] = [];
      for (let j = 0; j < Math.min(k, result.k); j++) {
        const i = result.indices[q * result.k + j];
        if (i < 0) continue;
        neighbours.push({ id: indexIds[i], src: await thumb(indexIds[i], 'index'), score: result.scores[q * result.k + j], hit: relevant.has(indexIds[i]) });
      }
      return {
        query: { id: qid, src: await thumb(qid, 'query') },
        neighbours,
        precision: relevant.size > 0 ? precision(neighbours.map((n) => n.id), relevant) : undefined,
      };
    }),
  );
}
