/** The held-out evaluation rows as image folders `<domain>/<class>/<id>.<ext>` (what `guie eval --model` and the jig take), rewritten when data or split change. */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { DataSet } from '../data/dataset';
import { imageExtension } from '../data/image';
import { decodeRecord } from '../data/schema';
import type { DataSplit } from '../data/split';
import { recordKey } from '../data/pipeline';
import { numberedRecords } from '../data/tfrecord';
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
  // rows name their record (skipBad may have left some out): look each record's row up
  const rowOf = new Map(data.rows.map((r, i) => [recordKey(data.files[r.file], r.record), i]));
  for (const file of data.files) {
    for await (const { index, bytes } of numberedRecords(file)) {
      const n = rowOf.get(recordKey(file, index));
      const role = n === undefined ? undefined : wanted.get(n);
      if (n !== undefined && role) {
        const row = data.rows[n];
        const rec = decodeRecord(bytes, data.schema);
        const folder = path.join(tmp, role, safeName(row.source), safeName(data.classNames.get(row.label) ?? String(row.label)));
        fs.mkdirSync(folder, { recursive: true });
        fs.writeFileSync(path.join(folder, `${safeName(row.id)}${imageExtension(rec.image)}`), rec.image);
      }
    }
  }
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(tmp, root);
  writeJsonAtomic(marker, { stamp });
  return dirs;
}
