/**
 * The public API's JSDoc examples run as written: every ```ts block under an @example in lib/ is compiled,
 * run by Node against the built package (dist/lib/index.js, what `main` names), and each
 * `console.log(...); // expected` must print exactly its comment. Notebook cells import that entry point only.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import * as ts from 'typescript';
import { ensureBuilt } from './train/build';

const ROOT = path.resolve(__dirname, '..');

interface Example {
  file: string;
  code: string;
  expected: string[];
}

function examples(): Example[] {
  const out: Example[] = [];
  const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  for (const file of walk(path.join(ROOT, 'lib'))) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/@example\s*\n((?:\s*\*.*\n)*?)\s*\*\s*```ts\n((?:\s*\*.*\n)*?)\s*\*\s*```/g)) {
      const code = m[2].split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n');
      const expected = [...code.matchAll(/console\.log\(.*\);\s*\/\/\s*(.+)$/gm)].map((x) => x[1].trim());
      out.push({ file: path.relative(ROOT, file), code, expected });
    }
  }
  return out;
}

const found = examples();

test('the facade and the entry point carry examples', () => {
  expect(found.map((e) => e.file)).toEqual(expect.arrayContaining(['lib/index.ts', 'lib/embedding-pipeline.ts']));
  expect(found.length).toBeGreaterThanOrEqual(3);
  for (const e of found) expect(e.expected.length).toBeGreaterThan(0); // an example that checks nothing proves nothing
});

describe.each(found.map((e, i) => [`${e.file} example ${i}`, e] as const))('%s', (_name, e) => {
  test('runs and prints what its comments say', () => {
    ensureBuilt(['lib/index.ts', 'lib/embedding-pipeline.ts', e.file]);
    const dir = path.join(ROOT, 'outputs', 'api-examples');
    fs.mkdirSync(dir, { recursive: true });
    const entry = pathToFileURL(path.join(ROOT, 'dist', 'lib', 'index.js')).href;
    const js = ts.transpileModule(e.code.replace(/from 'guie-ts'/g, `from '${entry}'`), { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
    const file = path.join(dir, `${e.file.replace(/[/.]/g, '_')}-${found.indexOf(e)}.mjs`);
    fs.writeFileSync(file, js);
    const r = spawnSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, GUIE_PROGRESS: 'silent' }, timeout: 120_000 });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(e.expected);
  }, 150_000);
});

test('notebook cells import the library through its entry point only', () => {
  const deep: string[] = [];
  for (const f of fs.readdirSync(path.join(ROOT, 'notebooks')).filter((n) => n.endsWith('.ipynb'))) {
    const nb = JSON.parse(fs.readFileSync(path.join(ROOT, 'notebooks', f), 'utf8')) as { cells: Array<{ cell_type: string; source: string | string[] }> };
    for (const c of nb.cells) {
      const src = Array.isArray(c.source) ? c.source.join('') : c.source;
      for (const m of src.matchAll(/from '(\.\.\/dist\/lib\/[^']*)'/g)) if (m[1] !== '../dist/lib/index') deep.push(`${f}: ${m[1]}`);
    }
  }
  expect(deep).toEqual([]);
});
