import * as fs from 'fs';
import * as path from 'path';

/**
 * Every file under `root` as a '/'-separated path relative to it, in plain code-point order of
 * those paths (byte order of their UTF-8), so a folder lists the same on every machine and locale:
 * localeCompare folds case and per-folder sorting puts "a/x" before "a-b". Hidden entries (names
 * starting with '.', e.g. .DS_Store, .git) are skipped; a symbolic link counts when it points at a
 * file, and linked folders are not entered (no cycles).
 */
export function listFilesSorted(root: string): string[] {
  const out: string[] = [];
  const visit = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) visit(r);
      else if (e.isFile() || (e.isSymbolicLink() && fs.statSync(path.join(root, r), { throwIfNoEntry: false })?.isFile())) out.push(r);
    }
  };
  visit('');
  return out
    .map((r): [Buffer, string] => [Buffer.from(r, 'utf8'), r])
    .sort((a, b) => Buffer.compare(a[0], b[0]))
    .map(([, r]) => r);
}
