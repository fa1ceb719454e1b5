/**
 * The layers of lib/ import one way: madge (a well-kept dependency graph tool) finds no import cycle,
 * type-only imports included (a type cycle still ties two stages together).
 */
import * as path from 'path';

interface MadgeResult {
  circular(): string[][];
  obj(): Record<string, string[]>;
}
// madge ships no type declarations: the slice used here
// eslint-disable-next-line @typescript-eslint/no-require-imports
const madge = require('madge') as (dir: string, config: Record<string, unknown>) => Promise<MadgeResult>;

const ROOT = path.join(__dirname, '..');

test('no import cycles anywhere in lib/', async () => {
  const res = await madge(path.join(ROOT, 'lib'), { fileExtensions: ['ts'], tsConfig: path.join(ROOT, 'tsconfig.json'), detectiveOptions: { ts: { skipTypeImports: false } } });
  const files = Object.keys(res.obj());
  expect(files.length).toBeGreaterThan(100); // it really read the tree
  expect(files).toContain('jig/server.ts');
  expect(res.obj()['jig/server.ts']).toEqual(expect.arrayContaining(['jig/serve-options.ts', 'jig/openapi.ts']));
  expect(res.circular()).toEqual([]);
}, 120_000);

test('the bottom layers import nothing above them: lib/core only itself, lib/util only core and util; data never imports model', async () => {
  const res = await madge(path.join(ROOT, 'lib'), { fileExtensions: ['ts'], tsConfig: path.join(ROOT, 'tsconfig.json'), detectiveOptions: { ts: { skipTypeImports: false } } });
  const graph = res.obj();
  const offending = (from: string, allowed: readonly string[]) =>
    Object.entries(graph)
      .filter(([f]) => f.startsWith(from))
      .flatMap(([f, deps]) => deps.filter((d) => !allowed.some((a) => d.startsWith(a))).map((d) => `${f} -> ${d}`));
  expect(Object.keys(graph).filter((f) => f.startsWith('core/'))).toEqual(expect.arrayContaining(['core/box.ts', 'core/preprocess.ts', 'core/rgb-image.ts']));
  expect(offending('core/', ['core/'])).toEqual([]);
  expect(offending('util/', ['util/', 'core/'])).toEqual([]);
  expect(Object.entries(graph).filter(([f]) => f.startsWith('data/')).flatMap(([f, deps]) => deps.filter((d) => d.startsWith('model/')).map((d) => `${f} -> ${d}`))).toEqual([]);
}, 120_000);
