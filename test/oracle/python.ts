/** Runs a Python oracle script in the project's venv (made on first use by scripts/python-env.sh). */
import { execFileSync, spawnSync } from 'child_process';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const VENV_PYTHON = path.join(process.env.GUIE_VENV ?? path.join(ROOT, '.venv'), 'bin', 'python');

let ready = false;
export function ensurePython(): string {
  if (!ready) {
    execFileSync('bash', [path.join(ROOT, 'scripts', 'python-env.sh')], { stdio: 'inherit' });
    ready = true;
  }
  return VENV_PYTHON;
}

/** Runs `python script args...`; throws with stderr when it fails; returns stdout. */
export function runPython(script: string, args: string[] = [], input?: string, timeoutMs = 600_000): string {
  const py = ensurePython();
  const res = spawnSync(py, [script, ...args], {
    input,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 1 << 30,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', PYTHONUNBUFFERED: '1', CUDA_VISIBLE_DEVICES: '' },
  });
  if (res.status !== 0) {
    throw new Error(`python ${path.basename(script)} failed (${res.status ?? res.signal}):\n${res.stderr}\n${res.stdout}`);
  }
  return res.stdout;
}

/** Runs a Python oracle that prints one JSON document on its last stdout line. */
export function runPythonJson<T>(script: string, args: string[] = [], input?: string): T {
  const out = runPython(script, args, input).trim().split('\n');
  return JSON.parse(out[out.length - 1]) as T;
}
