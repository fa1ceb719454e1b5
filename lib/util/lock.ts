/**
 * One writer per run folder: `<dir>/.lock` (pid, host, start time, command) created exclusively. A
 * second `guie train` / `guie run` on the same folder is refused naming the holder; a lock left by a
 * process that no longer runs (same host) is taken over with a message. Released on return and on exit.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const LOCK_FILE = '.lock';

interface Holder {
  pid: number;
  host: string;
  started: string;
  command: string;
}

export class FolderLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FolderLockedError';
  }
}

/** Whether a process with this pid runs on this host (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function readHolder(file: string): Holder | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Holder;
  } catch {
    return null; // vanished, or half-written by a holder that is starting: treated as held below
  }
}

/** Takes the folder's lock (creating the folder); returns the release function. */
export function lockFolder(dir: string, command: string, log: (m: string) => void = (m) => console.warn(m)): () => void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const me: Holder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), command };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, JSON.stringify(me) + '\n');
      fs.closeSync(fd);
      const release = () => {
        if (readHolder(file)?.pid === me.pid) fs.rmSync(file, { force: true });
        process.off('exit', release);
      };
      process.on('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const h = readHolder(file);
      if (h && h.host === me.host && h.pid !== me.pid && !processAlive(h.pid)) {
        log(`${dir}: taking over the lock of pid ${h.pid} (${h.command}, since ${h.started}), which is no longer running`);
        fs.rmSync(file, { force: true });
        continue;
      }
      const who = h ? `pid ${h.pid} on ${h.host} (${h.command}, since ${h.started})` : 'another process (lock file being written)';
      throw new FolderLockedError(`${dir} is in use by ${who}: wait for it to finish, or choose another --out (delete ${file} only if that process is gone)`);
    }
  }
  throw new FolderLockedError(`${dir}: could not take the lock ${file}`);
}
