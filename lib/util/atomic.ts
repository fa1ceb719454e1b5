/** Atomic file writes: write a temporary sibling, fsync, rename. A kill at any moment leaves the old file or the new one, never half of one. */
import * as fs from 'fs';
import * as path from 'path';

/** Writes (flag 'w') or appends (flag 'a') and fsyncs before returning: the bytes are on disk. */
export function writeFileSynced(file: string, data: string | Uint8Array, flag: 'w' | 'a' = 'w'): void {
  const fd = fs.openSync(file, flag);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  writeFileSynced(tmp, data);
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
