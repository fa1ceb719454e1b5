#!/usr/bin/env node
// Writes a tslab .ipynb from a cell script: cells separated by lines "// %%" (code) or "// %% md" (markdown, lines start with "// ").
// usage: node scripts/nb.js cells.ts out.ipynb   — a convenience for authoring; the .ipynb is the source of truth.
const fs = require('fs');
const [src, out] = process.argv.slice(2);
const cells = [];
let cur = null;
for (const line of fs.readFileSync(src, 'utf8').split('\n')) {
  const m = line.match(/^\/\/ %%( md)?\s*$/);
  if (m) { cur = { type: m[1] ? 'markdown' : 'code', lines: [] }; cells.push(cur); continue; }
  if (cur) cur.lines.push(cur.type === 'markdown' ? line.replace(/^\/\/ ?/, '') : line);
}
const nb = {
  cells: cells.map((c) => {
    while (c.lines.length && c.lines[c.lines.length - 1].trim() === '') c.lines.pop();
    const source = c.lines.map((l, i) => (i < c.lines.length - 1 ? l + '\n' : l));
    return c.type === 'code' ? { cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source } : { cell_type: 'markdown', metadata: {}, source };
  }),
  metadata: { kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' }, language_info: { name: 'typescript', file_extension: '.ts', mimetype: 'text/typescript' } },
  nbformat: 4, nbformat_minor: 5,
};
nb.cells.forEach((c, i) => { c.id = `cell-${i}`; });
fs.writeFileSync(out, JSON.stringify(nb, null, 1) + '\n');
