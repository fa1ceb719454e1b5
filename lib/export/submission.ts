/**
 * submission.zip in the Kaggle layout: the SavedModel's files at the zip root
 * (saved_model.pb, variables/variables.index, variables/variables.data-00000-of-00001).
 * Stored, not deflated (weights do not compress), and streamed file by file in chunks.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Zip, ZipPassThrough } from 'fflate';
import { listFilesSorted } from '../util/walk';

export const SUBMISSION_FILES = ['saved_model.pb', 'variables/variables.index', 'variables/variables.data-00000-of-00001'] as const;
const CHUNK = 16 << 20;
const ZIP32_LIMIT = 2 ** 32 - (1 << 20);

/** Zips every file under `savedModelDir` (lib/util/walk: sorted, hidden entries skipped) with paths relative to it; writes atomically (tmp + rename). */
export async function writeSubmissionZip(savedModelDir: string, zipFile: string): Promise<{ bytes: number; files: string[] }> {
  for (const f of SUBMISSION_FILES) {
    if (!fs.existsSync(path.join(savedModelDir, f))) throw new Error(`${path.join(savedModelDir, f)}: missing; not a SavedModel directory`);
  }
  const files = listFilesSorted(savedModelDir);
  const total = files.reduce((sum, f) => sum + fs.statSync(path.join(savedModelDir, f)).size, 0);
  // fflate writes classic zip (no ZIP64): offsets and sizes must stay below 4 GiB
  if (total >= ZIP32_LIMIT) throw new Error(`${savedModelDir}: ${(total / 2 ** 30).toFixed(2)} GiB of files; submission.zip without ZIP64 holds at most 4 GiB (a ViT-H export is ~2.5 GB)`);
  const tmp = `${zipFile}.tmp-${process.pid}`;
  fs.mkdirSync(path.dirname(path.resolve(zipFile)), { recursive: true });
  const fd = fs.openSync(tmp, 'w');
  try {
    await new Promise<void>((resolve, reject) => {
      const zip = new Zip((err, data, final) => {
        if (err) return reject(err);
        fs.writeSync(fd, data);
        if (final) resolve();
      });
      for (const rel of files) {
        const entry = new ZipPassThrough(rel);
        zip.add(entry);
        const src = fs.openSync(path.join(savedModelDir, rel), 'r');
        try {
          const size = fs.fstatSync(src).size;
          const buf = Buffer.alloc(Math.min(CHUNK, Math.max(size, 1)));
          let pos = 0;
          if (size === 0) entry.push(new Uint8Array(0), true);
          while (pos < size) {
            const n = fs.readSync(src, buf, 0, buf.length, pos);
            pos += n;
            entry.push(new Uint8Array(buf.subarray(0, n)), pos >= size);
          }
        } finally {
          fs.closeSync(src);
        }
      }
      zip.end();
    });
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, zipFile);
  return { bytes: fs.statSync(zipFile).size, files };
}

