/** The notebook runner against real notebooks, the real tslab kernel and nbclient (needs `npm run build`: cells import dist/). */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runNotebook, runNotebooks, NotebookError, listNotebooks } from '../lib/notebooks';

const FIX = path.join(__dirname, 'fixtures', 'notebooks');
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-nb-'));

type Cell = { cell_type: string; outputs?: Array<{ text?: string[] | string }> };
const outputText = (file: string): string[] =>
  (JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: Cell[] }).cells.map((c) =>
    (c.outputs ?? []).map((o) => (Array.isArray(o.text) ? o.text.join('') : o.text ?? '')).join(''),
  );

describe('notebook runner', () => {
  test('runs a good notebook and writes the executed copy with real outputs', () => {
    const r = runNotebook(path.join(FIX, 'good.ipynb'), { outDir });
    expect(r.ok).toBe(true);
    expect(r.cells).toBe(2);
    const texts = outputText(r.output);
    expect(texts[0]).toContain('batch=32 dim=64');
    expect(texts[1]).toContain('sum=14');
  });

  test('reports the failing cell index and its message, and keeps the partial copy', () => {
    const r = runNotebook(path.join(FIX, 'broken.ipynb'), { outDir });
    expect(r.ok).toBe(false);
    expect(r.failedCell).toBe(1);
    expect(r.error).toContain('boom: deliberately broken cell');
    const texts = outputText(r.output);
    expect(texts[0]).toContain('first cell runs');
    expect(texts[2]).toBe(''); // execution stopped at the broken cell
  });

  test('a TypeScript type error fails its cell', () => {
    const r = runNotebook(path.join(FIX, 'type_error.ipynb'), { outDir });
    expect(r.ok).toBe(false);
    expect(r.failedCell).toBe(0);
    expect(r.error).toMatch(/not assignable to type 'number'/);
  });

  test('runNotebooks stops at the first failure and does not run later notebooks', () => {
    const logs: string[] = [];
    const files = [path.join(FIX, 'good.ipynb'), path.join(FIX, 'broken.ipynb'), path.join(FIX, 'good.ipynb')];
    let err: unknown;
    try {
      runNotebooks(files, { outDir, log: (l) => logs.push(l) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotebookError);
    expect((err as NotebookError).message).toMatch(/broken\.ipynb: cell 1 failed: .*boom/);
    expect(logs.filter((l) => l.endsWith('...'))).toHaveLength(2);
  });

  test('lists notebooks in order and rejects a missing folder', () => {
    expect(listNotebooks(FIX).map((f) => path.basename(f))).toEqual(['broken.ipynb', 'good.ipynb', 'type_error.ipynb']);
    expect(() => listNotebooks(path.join(FIX, 'nope'))).toThrow(/notebook folder not found/);
  });
});

describe('plots in notebooks', () => {
  type Output = { output_type: string; data?: Record<string, unknown> };
  test('notebook 01 shows its figure as a Plotly MIME bundle (with a text fallback), no plotly.js inlined, and stays under 1 MB', () => {
    const r = runNotebook(path.join(__dirname, '..', 'notebooks', '01_data_loading.ipynb'), { outDir });
    expect(r.ok).toBe(true);
    const bytes = fs.statSync(r.output).size;
    expect(bytes).toBeLessThan(1 << 20);
    const nb = JSON.parse(fs.readFileSync(r.output, 'utf8')) as { cells: Array<{ outputs?: Output[] }> };
    const shown = nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === 'display_data');
    const plots = shown.filter((o) => o.data?.['application/vnd.plotly.v1+json']);
    expect(plots).toHaveLength(1);
    const fig = plots[0].data!['application/vnd.plotly.v1+json'] as { data: Array<{ type: string; name: string; x: number[] }>; layout: { height: number } };
    expect(fig.data.map((t) => t.type)).toEqual(['histogram', 'histogram']); // one per source
    expect(fig.data[0].name).toMatch(/^plants \(labels 0-\d+\)$/);
    expect(fig.data[0].x.every((v) => Number.isInteger(v) && v >= 3)).toBe(true); // images per class, from the records (minPerClass 3)
    expect(fig.layout.height).toBe(380);
    expect([plots[0].data!['text/plain']].flat().join('')).toBe('Plotly figure "Images per class": 2 traces (JupyterLab with the plotly extension, VS Code or nteract draw it)');
    const text = fs.readFileSync(r.output, 'utf8');
    expect(text).not.toContain('plotly.js v'); // the library's banner: never pasted into the notebook
    expect(text).not.toContain('Plotly.react');
  }, 180_000);
});

describe('the notebook runner environment', () => {
  test('is light: nbclient and the tslab kernel, no PyTorch or TensorFlow; its first run is one line per step, pip quiet', () => {
    const venv = path.join(outDir, 'venv-fresh');
    const r = spawnSync('bash', [path.join(__dirname, '..', 'scripts', 'python-env.sh'), 'notebooks'], { env: { ...process.env, GUIE_NOTEBOOK_VENV: venv }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines.map((l) => l.replace(/\(\d+s\)$/, '(Ns)'))).toEqual([
      `[python-env notebooks] creating ${venv} ... done (Ns)`,
      '[python-env notebooks] upgrading pip ... done (Ns)',
      '[python-env notebooks] installing 4 packages from requirements-notebooks.txt (first run only) ... done (Ns)',
      '[python-env notebooks] registering the tslab kernel ... done (Ns)',
    ]);
    const site = fs.readdirSync(path.join(venv, 'lib')).map((py) => path.join(venv, 'lib', py, 'site-packages'))[0];
    const pkgs = fs.readdirSync(site);
    expect(pkgs).toEqual(expect.arrayContaining(['nbclient', 'nbformat', 'jupyter_client', 'ipykernel']));
    for (const heavy of ['torch', 'tensorflow', 'open_clip', 'onnxruntime', 'faiss', 'sklearn']) expect(pkgs).not.toContain(heavy);
    expect(fs.existsSync(path.join(venv, 'share', 'jupyter', 'kernels', 'tslab', 'kernel.json'))).toBe(true);
    // a warm start says nothing
    const again = spawnSync('bash', [path.join(__dirname, '..', 'scripts', 'python-env.sh'), 'notebooks'], { env: { ...process.env, GUIE_NOTEBOOK_VENV: venv }, encoding: 'utf8' });
    expect([again.status, again.stderr]).toEqual([0, '']);
  }, 600_000);
});
