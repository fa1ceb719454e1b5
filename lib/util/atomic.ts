/** Atomic file writes: write a temporary sibling, fsync, rename. A kill at any moment leaves the old file or the new one, never half of one. */
import * as fs from 'fs';
import * as path from 'path';

/**
 * An I/O error naming the file (Node's write errors name none: "ENOSPC: no space left on device, write"),
 * with what to do when the disk is full; `code` is kept.
 */
export function ioError(file: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  const full = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? ' (the disk is full: free space, or point paths.outputs / paths.cache at another disk)' : '';
  return Object.assign(new Error(`${file}: ${err.message}${full}`), { code: err.code });
}

/** Appends without fsync (logs written line by line); an error names the file. */
export function appendFileNamed(file: string, data: string | Uint8Array): void {
  try {
    fs.appendFileSync(file, data);
  } catch (e) {
    throw ioError(file, e);
  }
}

/** Writes (flag 'w') or appends (flag 'a') and fsyncs before returning: the bytes are on disk. */
export function writeFileSynced(file: string, data: string | Uint8Array, flag: 'w' | 'a' = 'w'): void {
  let fd: number;
  try {
    fd = fs.openSync(file, flag);
  } catch (e) {
    throw ioError(file, e);
  }
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } catch (e) {
    throw ioError(file, e);
  } finally {
    fs.closeSync(fd);
  }
}

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeFileSynced(tmp, data);
  } catch (e) {
    fs.rmSync(tmp, { force: true }); // a full disk leaves no partial temporary behind
    throw ioError(file, e);
  }
  fs.renameSync(tmp, file);
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** Replaces a whole directory atomically: build it under a temporary name, then swap it in. */
export function replaceDirAtomic(dir: string, build: (tmpDir: string) => void): void {
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  build(tmp);
  const old = `${dir}.old-${process.pid}-${Date.now()}`;
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
}
