/** Makes sure dist/ holds compiled copies of the training modules (child processes run JS). */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..', '..');

/** lib/ sources the training CLI loads at run time. */
const SOURCES = [
  'lib/config.ts', 'lib/device.ts', 'lib/util/atomic.ts', 'lib/util/progress.ts', 'lib/util/paths.ts', 'lib/retrieval/metrics.ts', 'lib/retrieval/vector-index.ts',
  'lib/data/pipeline.ts', 'lib/model/backbones.ts', 'lib/model/heads.ts', 'lib/model/loss.ts', 'lib/viz/plotly.ts',
  ...fs.readdirSync(path.join(ROOT, 'lib/train')).map((f) => `lib/train/${f}`)];

function stale(src: string): boolean {
  const js = path.join(ROOT, 'dist', src.replace(/\.ts$/, '.js'));
  return !fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(path.join(ROOT, src)).mtimeMs;
}

/** Runs tsc when a needed file (the training modules, plus `extra` lib/ sources) is missing or older than its source (errors in other engineers' files do not stop emit). */
export function ensureBuilt(extra: string[] = []): void {
  const sources = [...SOURCES, ...extra];
  if (!sources.some(stale)) return;
  spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
  const still = sources.filter(stale);
  if (still.length > 0) throw new Error(`tsc did not produce up-to-date dist/ files for: ${still.join(', ')}`);
}
