/**
 * Content fingerprints of record files: sha256 of the bytes, remembered per (path, size, mtime,
 * inode) in a small digest file so an unchanged multi-GB data set is not re-hashed on every run
 * (git's stat cache idea). A file rewritten in place gets a new mtime and is hashed again.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { writeJsonAtomic } from '../util/atomic';

interface DigestEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** sha256 of each file (in order), reusing digests recorded in `memoFile` for files whose stat is unchanged. */
export function fileDigests(files: readonly string[], memoFile?: string): string[] {
  let memo: Record<string, DigestEntry> = {};
  if (memoFile && fs.existsSync(memoFile)) {
    try {
      memo = JSON.parse(fs.readFileSync(memoFile, 'utf8')) as Record<string, DigestEntry>;
    } catch {
      memo = {}; // a damaged memo only costs a re-hash
    }
  }
  let changed = false;
  const out = files.map((f) => {
    const abs = path.resolve(f);
    const st = fs.statSync(abs);
    const m = memo[abs];
    if (m && m.size === st.size && m.mtimeMs === st.mtimeMs && m.ino === st.ino) return m.sha256;
    const sha256 = sha256File(abs);
    memo[abs] = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, sha256 };
    changed = true;
    return sha256;
  });
  if (memoFile && changed) writeJsonAtomic(memoFile, memo);
  return out;
}

/** One fingerprint for a data set: the files' digests in order (names do not matter, contents and order do). */
export function dataFingerprint(files: readonly string[], memoFile?: string): string {
  const h = createHash('sha256');
  for (const d of fileDigests(files, memoFile)) h.update(d);
  return `sha256:${h.digest('hex')}`;
}
