/**
 * The single page of `guie serve`: pick or drop a query image, see the top-k matches with
 * scores, browse the gallery, read the index statistics. Plain HTML + JS, no external assets
 * (works offline); all data comes from the JSON API in server.ts and is written with textContent.
 */
import { escapeHtml } from '../util/html';

export interface PageOptions {
  title: string;
  k: number;
  maxBytes: number;
}

const CSS = `
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:12px 24px}header h1{margin:0;font-size:20px}
#stats{font-size:13px;opacity:.85;margin-top:4px}
main{padding:16px 24px}section{margin-bottom:24px}
#drop{border:2px dashed #90a4ae;border-radius:8px;padding:20px;text-align:center;background:#fff}
#drop.over{background:#e3f2fd;border-color:#1e88e5}
#query-row{display:flex;gap:24px;align-items:flex-start;margin-top:16px}
#query-preview{max-width:200px;max-height:200px;border:1px solid #ccc}
#status{font-size:14px;margin:8px 0;min-height:1.2em}#status.error{color:#c62828}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;width:170px;font-size:12px}
.card img{width:160px;height:160px;object-fit:contain;display:block;background:#eee}
.card .rank{font-weight:bold}.card .score{float:right;font-family:monospace}
.card .key{color:#666;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
#pager{margin:8px 0}button{padding:4px 12px}
`;

const SCRIPT = `
const $ = (id) => document.getElementById(id);
function card(item, extra) {
  const d = document.createElement('div'); d.className = 'card';
  const img = document.createElement('img'); img.src = '/api/gallery/' + item.index; img.alt = item.key; d.appendChild(img);
  const head = document.createElement('div');
  if (extra) { const r = document.createElement('span'); r.className = 'rank'; r.textContent = '#' + extra.rank; head.appendChild(r);
    const s = document.createElement('span'); s.className = 'score'; s.textContent = extra.score.toFixed(3); head.appendChild(s); }
  d.appendChild(head);
  const l = document.createElement('div'); l.textContent = (item.label ?? '') + (item.domain ? ' · ' + item.domain : ''); d.appendChild(l);
  const k = document.createElement('div'); k.className = 'key'; k.textContent = item.key; k.title = item.key; d.appendChild(k);
  return d;
}
async function search(file) {
  const status = $('status'); status.className = ''; status.textContent = 'searching…';
  $('query-preview').src = URL.createObjectURL(file);
  const t0 = performance.now();
  const res = await fetch('/api/search?k=' + $('k').value, { method: 'POST', body: file, headers: { 'Content-Type': file.type || 'application/octet-stream' } });
  const body = await res.json();
  const results = $('results'); results.replaceChildren();
  if (!res.ok) { status.className = 'error'; status.textContent = 'error ' + res.status + ': ' + body.error; return; }
  body.matches.forEach((m, i) => { const c = card(m, { rank: i + 1, score: m.score }); c.classList.add('match'); c.dataset.key = m.key; c.dataset.label = m.label ?? ''; results.appendChild(c); });
  status.textContent = file.name + ' (' + body.query.format + ' ' + body.query.width + 'x' + body.query.height + '): top-' + body.k +
    ' in ' + body.ms.toFixed(1) + ' ms on the server, ' + (performance.now() - t0).toFixed(0) + ' ms round trip';
  document.body.dataset.searches = String(Number(document.body.dataset.searches || 0) + 1);
}
let offset = 0; const PAGE = 24;
async function browse(to) {
  const res = await fetch('/api/gallery?offset=' + to + '&limit=' + PAGE); const body = await res.json();
  offset = body.offset; const g = $('gallery'); g.replaceChildren(...body.items.map((it) => card(it)));
  $('page-info').textContent = (offset + 1) + '–' + (offset + body.items.length) + ' of ' + body.total;
  $('prev').disabled = offset === 0; $('next').disabled = offset + PAGE >= body.total;
}
async function stats() {
  const s = await (await fetch('/api/stats')).json();
  $('stats').textContent = s.size + ' gallery images · ' + s.labels + ' labels · ' + Object.keys(s.domains).length + ' domains · ' +
    s.dim + '-d ' + s.embedder + ' · index ' + s.fingerprint + (s.cached ? ' (cached)' : ' (built in ' + (s.buildMs / 1000).toFixed(1) + ' s)') +
    ' · upload limit ' + (s.limits.maxBytes / 1048576).toFixed(0) + ' MiB, ' + (s.limits.maxPixels / 1e6).toFixed(0) + ' MP';
}
$('query-file').addEventListener('change', (e) => { const f = e.target.files[0]; if (f) search(f).catch((err) => { $('status').className = 'error'; $('status').textContent = String(err); }); });
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); const f = e.dataTransfer.files[0]; if (f) search(f); });
$('prev').addEventListener('click', () => browse(Math.max(0, offset - PAGE)));
$('next').addEventListener('click', () => browse(offset + PAGE));
stats(); browse(0);
`;


export function jigPageHtml(opts: PageOptions): string {
  const ks = [1, 5, 10, 20].includes(opts.k) ? [1, 5, 10, 20] : [opts.k, 1, 5, 10, 20];
  const options = ks.map((k) => `<option value="${k}"${k === opts.k ? ' selected' : ''}>${k}</option>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(opts.title)}</title><style>${CSS}</style></head>
<body><header><h1>${escapeHtml(opts.title)}</h1><div id="stats">loading index statistics…</div></header><main>
<section><div id="drop">Drop a query image here, or <label>pick one: <input type="file" id="query-file" accept="image/*"></label>
 &nbsp; top-<select id="k">${options}</select> &nbsp; <small>(max ${(opts.maxBytes / 1048576).toFixed(0)} MiB)</small></div>
<div id="query-row"><div><h3>Query</h3><img id="query-preview" alt=""></div><div style="flex:1"><h3>Matches</h3><div id="status"></div><div id="results" class="grid"></div></div></div></section>
<section><h3>Gallery</h3><div id="pager"><button id="prev">‹ prev</button> <span id="page-info"></span> <button id="next">next ›</button></div><div id="gallery" class="grid"></div></section>
</main><script>${SCRIPT}</script></body></html>
`;
}
