/** The held-out evaluation rows as image folders `<domain>/<class>/<id>.<ext>` (what `guie eval --model` and the jig take), rewritten when data or split change. */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { DataSet } from '../data/dataset';
import { imageExtension } from '../data/image';
import { decodeRecord } from '../data/schema';
import type { DataSplit } from '../data/split';
import { readTfRecords } from '../data/tfrecord';
import { writeJsonAtomic } from '../util/atomic';

const safeName = (s: string) => s.replace(/[/\\]/g, '__').replace(/^\.+/, '_') || '_';

export async function writeEvalFolders(data: DataSet, split: DataSplit, outDir: string): Promise<{ queries: string; index: string }> {
  const root = path.join(outDir, 'eval');
  const stamp = createHash('sha256').update(JSON.stringify([data.fingerprint, split.query, split.index])).digest('hex');
  const dirs = { queries: path.join(root, 'queries'), index: path.join(root, 'index') };
  const marker = path.join(root, 'complete.json');
  if (fs.existsSync(marker) && (JSON.parse(fs.readFileSync(marker, 'utf8')) as { stamp: string }).stamp === stamp) return dirs;
  const wanted = new Map<number, 'queries' | 'index'>([...split.query.map((r): [number, 'queries'] => [r, 'queries']), ...split.index.map((r): [number, 'index'] => [r, 'index'])]);
  // written beside, then swapped in: a killed run never leaves a half-written folder with a marker
  const tmp = `${root}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const [fi, file] of data.files.entries()) {
    let n = data.rows.findIndex((r) => r.file === fi);
    for await (const bytes of readTfRecords(file)) {
      const role = wanted.get(n);
      if (role) {
        const row = data.rows[n];
        const rec = decodeRecord(bytes, data.schema);
        const folder = path.join(tmp, role, safeName(row.source), safeName(data.classNames.get(row.label) ?? String(row.label)));
        fs.mkdirSync(folder, { recursive: true });
        fs.writeFileSync(path.join(folder, `${safeName(row.id)}${imageExtension(rec.image)}`), rec.image);
      }
      n++;
    }
  }
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(tmp, root);
  writeJsonAtomic(marker, { stamp });
  return dirs;
}
