/** The project root, found from this file whether it runs from lib/ (ts-jest) or dist/lib/ (compiled). */
import * as fs from 'fs';
import * as path from 'path';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'guie-ts') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the guie-ts project root above ${start}`);
    dir = up;
  }
}

export const PROJECT_ROOT = findRoot(__dirname);

/** Path of the compiled JS twin of a lib/ file (worker_threads and child processes need JS). */
export function compiledPath(...rel: string[]): string {
  return path.join(PROJECT_ROOT, 'dist', ...rel);
}
