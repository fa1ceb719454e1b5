/**
 * The notebook runner: executes notebooks in order with the real tslab kernel through Jupyter
 * (nbclient in the notebook runner's light venv), stops at the first failing cell with its index and message,
 * and writes executed copies. The venv is made on first use by `scripts/python-env.sh notebooks`.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from './util/paths';

export interface NotebookResult {
  notebook: string;
  output: string;
  ok: boolean;
  cells: number;
  seconds: number;
  /** Index of the failing code/markdown cell in the notebook, when one failed. */
  failedCell?: number;
  error?: string;
}

export class NotebookError extends Error {
  constructor(readonly result: NotebookResult) {
    super(`${result.notebook}: cell ${result.failedCell ?? '?'} failed: ${result.error ?? 'unknown error'}`);
    this.name = 'NotebookError';
  }
}

export interface RunOptions {
  /** Folder of executed copies (default outputs/notebooks). */
  outDir?: string;
  kernel?: string;
  /** Per-cell timeout in seconds (0 = none). */
  timeoutS?: number;
  venv?: string;
  log?: (line: string) => void;
}

export function listNotebooks(dir: string): string[] {
  if (!fs.existsSync(dir)) throw new Error(`notebook folder not found: ${dir}`);
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ipynb') && !f.startsWith('.'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** The notebook runner's light venv (nbclient + the tslab kernel spec; made on first use), its python. */
function pythonEnv(venv: string): string {
  execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'python-env.sh'), 'notebooks'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, GUIE_NOTEBOOK_VENV: venv } });
  return path.join(venv, 'bin', 'python');
}

/** Where the notebook runner's venv lives: GUIE_NOTEBOOK_VENV, else .venv-notebooks in the project. */
export function notebookVenv(): string {
  return process.env.GUIE_NOTEBOOK_VENV ?? path.join(PROJECT_ROOT, '.venv-notebooks');
}

/** Runs one notebook; never throws for a cell error (the result says which cell and why). */
export function runNotebook(file: string, opts: RunOptions = {}): NotebookResult {
  const venv = opts.venv ?? notebookVenv();
  const python = pythonEnv(venv);
  const outDir = opts.outDir ?? path.join(PROJECT_ROOT, 'outputs', 'notebooks');
  const output = path.join(outDir, path.basename(file));
  const env = {
    ...process.env,
    // tslab's kernel command must be on the Jupyter process's PATH; the venv holds its kernelspec.
    PATH: `${path.join(PROJECT_ROOT, 'node_modules', '.bin')}:${path.join(venv, 'bin')}:${process.env.PATH ?? ''}`,
    JUPYTER_PATH: path.join(venv, 'share', 'jupyter'),
    GUIE_PROGRESS: process.env.GUIE_PROGRESS ?? 'lines',
  };
  const res = spawnSync(
    python,
    [path.join(PROJECT_ROOT, 'scripts', 'run_notebook.py'), file, output, opts.kernel ?? 'tslab', String(opts.timeoutS ?? 900)],
    { encoding: 'utf8', env, maxBuffer: 64 << 20 },
  );
  const lastLine = (res.stdout ?? '').trim().split('\n').pop() ?? '';
  let parsed: { ok: boolean; cells: number; seconds: number; cell?: number | null; ename?: string; evalue?: string; source?: string };
  try {
    parsed = JSON.parse(lastLine);
  } catch {
    return { notebook: file, output, ok: false, cells: 0, seconds: 0, error: `runner crashed (exit ${res.status}): ${(res.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}` };
  }
  const result: NotebookResult = { notebook: file, output, ok: parsed.ok, cells: parsed.cells, seconds: parsed.seconds };
  if (!parsed.ok) {
    result.failedCell = parsed.cell ?? undefined;
    const firstLine = (parsed.source ?? '').split('\n')[0];
    result.error = `${parsed.ename}: ${parsed.evalue}${firstLine ? ` (cell starts: ${firstLine.slice(0, 80)})` : ''}`;
  }
  return result;
}

/** Runs notebooks in order; throws NotebookError at the first failing one. */
export function runNotebooks(files: string[], opts: RunOptions = {}): NotebookResult[] {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const results: NotebookResult[] = [];
  for (const file of files) {
    log(`[notebooks] ${path.basename(file)} ...`);
    const r = runNotebook(file, opts);
    results.push(r);
    if (!r.ok) throw new NotebookError(r);
    log(`[notebooks] ${path.basename(file)} ok: ${r.cells} cells in ${r.seconds}s -> ${path.relative(process.cwd(), r.output)}`);
  }
  return results;
}
