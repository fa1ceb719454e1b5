/**
 * Native libraries that print to file descriptor 2 while they load, below any log level: libtensorflow 2.21
 * writes absl's "log messages before absl::InitializeLog()" line and oneDNN's notice whatever
 * TF_CPP_MIN_LOG_LEVEL says, so only the descriptor itself can hide them. dup/dup2 come from libc through
 * koffi (prebuilt FFI, no C++ toolchain). GUIE_VERBOSE=1 (`guie --verbose`) leaves fd 2 alone.
 */
import * as fs from 'fs';

type FdCall = (...fds: number[]) => number;

interface Libc {
  dup: FdCall;
  dup2: FdCall;
  close: FdCall;
}

const LIBC: Partial<Record<NodeJS.Platform, string>> = { linux: 'libc.so.6', darwin: 'libSystem.B.dylib', freebsd: 'libc.so.7' };

let libc: Libc | null | undefined;

/** libc's descriptor calls, or null where they cannot be loaded (Windows, musl, koffi missing). */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  const name = LIBC[process.platform];
  if (!name) return libc;
  try {
    // required here, not imported: a machine without koffi's prebuilt binary still runs, only louder
    const koffi = require('koffi') as typeof import('koffi');
    const lib = koffi.load(name);
    libc = { dup: lib.func('int dup(int)') as FdCall, dup2: lib.func('int dup2(int, int)') as FdCall, close: lib.func('int close(int)') as FdCall };
  } catch {
    /* no FFI: fall through to an unsilenced load */
  }
  return libc;
}

export const verbose = (env: NodeJS.ProcessEnv = process.env): boolean => env.GUIE_VERBOSE === '1' || env.GUIE_VERBOSE === 'true';

/** Runs `fn` with fd 2 on /dev/null (unless verbose), restoring it however `fn` ends; what `fn` returns or throws passes through. */
export function withQuietStderr<T>(fn: () => T): T {
  const c = verbose() ? null : loadLibc();
  if (!c) return fn();
  const saved = c.dup(2);
  if (saved < 0) return fn();
  const devNull = fs.openSync('/dev/null', 'w');
  c.dup2(devNull, 2);
  try {
    return fn();
  } finally {
    c.dup2(saved, 2);
    c.close(saved);
    fs.closeSync(devNull);
  }
}
