/**
 * Reading a submission.zip back for verification: streamed to disk in constant memory, only SavedModel
 * entries written, refused as a zip bomb past a byte budget, and its layout checked (SavedModel at the root).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Unzip, UnzipInflate } from 'fflate';
import { SUBMISSION_FILES } from './submission';

export interface UnpackCheck {
  name: 'zip' | 'layout';
  ok: boolean;
  detail: string;
}

const DEFAULT_MAX_UNZIPPED = 4 * 2 ** 30;

/** What a SavedModel folder holds: anything else in a submission is refused (the scorer loads only these). */
const SAVED_MODEL_ENTRY = /^(saved_model\.pb|fingerprint\.pb|keras_metadata\.pb|variables\/|variables\/variables\.index|variables\/variables\.data-\d{5}-of-\d{5}|assets\/.*|assets\.extra\/.*)$/;

/** Bytes a zip may expand to: the option (or default), and never beyond what model weights (which barely compress) could need. */
export function unzipBudget(zipBytes: number, maxBytes = DEFAULT_MAX_UNZIPPED): number {
  return Math.min(maxBytes, 20 * zipBytes + 64 * 2 ** 20);
}

const CHUNK = 16 << 20;

/**
 * Streams the zip to `dir` (constant memory: a ViT-H submission is ~2.5 GB; each chunk goes straight to disk);
 * returns entry names. Entries outside a SavedModel are listed, never written; it stops as soon as the bytes
 * written pass `budget`.
 */
function extractZip(zipFile: string, dir: string, budget: number): string[] {
  const names: string[] = [];
  let failure: Error | null = null;
  let written = 0;
  const unzip = new Unzip((file) => {
    if (failure) return;
    names.push(file.name);
    if (!SAVED_MODEL_ENTRY.test(file.name) || file.name.endsWith('/')) return;
    const out = path.join(dir, file.name);
    if (!path.resolve(out).startsWith(path.resolve(dir) + path.sep)) {
      failure = new Error(`entry "${file.name}" escapes the extraction folder`);
      return;
    }
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const fd = fs.openSync(out, 'w');
    let open = true;
    const close = () => {
      if (open) fs.closeSync(fd);
      open = false;
    };
    file.ondata = (err, data, final) => {
      if (err) failure ??= err;
      else if (!failure) {
        written += data.length;
        if (written > budget) {
          failure = new Error(`expands beyond ${(budget / 2 ** 20).toFixed(0)} MiB (at "${file.name}"; the limit is min(maxBytes, 20x the zip + 64 MiB)): refused as a zip bomb`);
          file.terminate();
        } else fs.writeSync(fd, data);
      }
      if (final || err || failure) close();
    };
    file.start();
  });
  unzip.register(UnzipInflate);
  const fd = fs.openSync(zipFile, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(CHUNK, Math.max(size, 1)));
    for (let pos = 0; pos < size && !failure; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, 1 << 20), pos); // 1 MiB at a time: a bomb is caught within a few MiB of its budget
      pos += n;
      unzip.push(new Uint8Array(buf.subarray(0, n)), pos >= size);
    }
  } finally {
    fs.closeSync(fd);
  }
  if (failure) throw failure;
  return names;
}

/** Unpacks the submission's SavedModel files into `dir` and checks the layout the scorer needs: the 'zip' or 'layout' check, passed or failed. */
export function unpackSubmission(zipFile: string, dir: string, budget: number): UnpackCheck {
  let entries: string[];
  try {
    entries = extractZip(zipFile, dir, budget);
  } catch (e) {
    return { name: 'zip', ok: false, detail: `${zipFile}: not a readable zip (${e instanceof Error ? e.message : String(e)})` };
  }
  const names = entries.filter((n) => !n.endsWith('/'));
  if (names.length === 0) return { name: 'zip', ok: false, detail: `${zipFile}: not a zip, or an empty one (no entries found)` };
  const missing = SUBMISSION_FILES.filter((f) => !names.includes(f));
  if (missing.length) {
    const nested = names.find((n) => n.endsWith('/saved_model.pb'));
    const detail = nested
      ? `saved_model.pb is inside the folder "${nested.slice(0, -'saved_model.pb'.length)}"; the scorer needs saved_model.pb and variables/ at the zip root`
      : `missing at the zip root: ${missing.join(', ')} (zip holds: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''})`;
    return { name: 'layout', ok: false, detail };
  }
  const outside = names.filter((n) => !SAVED_MODEL_ENTRY.test(n));
  if (outside.length) return { name: 'layout', ok: false, detail: `entry "${outside[0]}" is not part of a SavedModel (saved_model.pb, variables/, assets/)${outside.length > 1 ? ` (+${outside.length - 1} more)` : ''}: the scorer loads only those` };
  return { name: 'layout', ok: true, detail: `SavedModel at the zip root (${names.length} files)` };
}
