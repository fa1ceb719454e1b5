/**
 * Host-style solution CSV: `id,<relevant index ids, space-separated>,Usage[,domain]`.
 * Usage is the leaderboard split (Public / Private); an optional `domain` column names each
 * query's source so every metric can be broken down by it.
 */
import * as fs from 'fs';
import { writeFileAtomic } from '../util/atomic';
import type { Breakdown, Relevance } from './metrics';

export interface Solution {
  /** query id -> relevant index ids, in file order. */
  relevant: Map<string, string[]>;
  usage: Map<string, string>;
  domain: Map<string, string>;
}

export class SolutionError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
    this.name = 'SolutionError';
  }
}

/** Splits one CSV line; supports double-quoted fields with "" escapes (no embedded newlines). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') out.push(field), (field = '');
    else field += c;
  }
  out.push(field);
  return out;
}

export function parseSolutionCsv(text: string, file = '<solution>'): Solution {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = splitCsvLine(lines[0] ?? '').map((h) => h.trim());
  const at = (name: string) => header.findIndex((h) => h.toLowerCase() === name.toLowerCase());
  const idCol = at('id');
  const usageCol = at('usage');
  const domainCol = at('domain');
  if (idCol !== 0 || usageCol < 0 || header.length < 3) {
    throw new SolutionError(file, 1, `header must be "id,<relevant ids>,Usage[,domain]", got "${lines[0] ?? ''}"`);
  }
  const relCol = header.findIndex((_, i) => i !== idCol && i !== usageCol && i !== domainCol);
  const sol: Solution = { relevant: new Map(), usage: new Map(), domain: new Map() };
  for (let n = 1; n < lines.length; n++) {
    if (lines[n].trim() === '') continue;
    const f = splitCsvLine(lines[n]);
    if (f.length !== header.length) throw new SolutionError(file, n + 1, `expected ${header.length} fields, got ${f.length}`);
    const id = f[idCol].trim();
    if (id === '') throw new SolutionError(file, n + 1, 'empty query id');
    if (sol.relevant.has(id)) throw new SolutionError(file, n + 1, `query ${id} appears twice`);
    const relevant = f[relCol].trim().split(/\s+/).filter((s) => s.length > 0);
    if (relevant.length === 0) throw new SolutionError(file, n + 1, `query ${id} has no relevant images`);
    sol.relevant.set(id, relevant);
    sol.usage.set(id, f[usageCol].trim());
    if (domainCol >= 0 && f[domainCol].trim() !== '') sol.domain.set(id, f[domainCol].trim());
  }
  if (sol.relevant.size === 0) throw new SolutionError(file, 1, 'no queries');
  return sol;
}

export function readSolutionCsv(file: string): Solution {
  return parseSolutionCsv(fs.readFileSync(file, 'utf8'), file);
}

export function formatSolutionCsv(sol: Solution): string {
  const withDomain = sol.domain.size > 0;
  const rows = [withDomain ? 'id,images,Usage,domain' : 'id,images,Usage'];
  for (const [id, rel] of sol.relevant) {
    const cols = [id, rel.join(' '), sol.usage.get(id) ?? ''];
    if (withDomain) cols.push(sol.domain.get(id) ?? '');
    rows.push(cols.join(','));
  }
  return rows.join('\n') + '\n';
}

export function writeSolutionCsv(file: string, sol: Solution): void {
  writeFileAtomic(file, formatSolutionCsv(sol));
}

/** The pieces the metrics take. */
export function solutionParts(sol: Solution): { relevance: Relevance; breakdown: Breakdown } {
  return { relevance: sol.relevant, breakdown: { usage: sol.usage, domain: sol.domain.size > 0 ? sol.domain : undefined } };
}
