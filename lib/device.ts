/**
 * Backend choice and the device report: the TypeScript counterpart of the reference notebook's
 * TPU/strategy cell ("REPLICAS"). Order: tfjs-node-gpu -> tfjs-node -> wasm -> cpu, first that
 * loads and computes wins; GUIE_BACKEND overrides (one name or a comma list).
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { turboJpeg, turboUnavailableReason } from './data/jpeg';
import { verbose, withQuietStderr } from './util/quiet-stderr';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export interface BackendCandidate {
  name: BackendName;
  /** Name tfjs registers the backend under. */
  tfName: string;
  /** Imports the package that registers the backend; throws if it cannot load. */
  load(): void;
}

export interface BackendAttempt {
  name: BackendName;
  ok: boolean;
  reason: string;
}

export interface BackendChoice {
  backend: BackendName;
  tfBackend: string;
  attempts: BackendAttempt[];
}

/** `require` kept dynamic so a missing optional package is a reason, not a crash at import time. */
function requireOptional(pkg: string): void {
  if (!pkg.startsWith('@tensorflow/tfjs-node')) return void require(pkg);
  // libtensorflow's C++ INFO lines drown the report; its load banner ignores the level, so fd 2 is quiet while it loads
  process.env.TF_CPP_MIN_LOG_LEVEL ??= verbose() ? '0' : '2';
  withQuietStderr(() => require(pkg));
}

export const CANDIDATES: Record<BackendName, BackendCandidate> = {
  'tensorflow-gpu': { name: 'tensorflow-gpu', tfName: 'tensorflow', load: () => requireOptional('@tensorflow/tfjs-node-gpu') },
  tensorflow: { name: 'tensorflow', tfName: 'tensorflow', load: () => requireOptional('@tensorflow/tfjs-node') },
  wasm: { name: 'wasm', tfName: 'wasm', load: () => requireOptional('@tensorflow/tfjs-backend-wasm') },
  cpu: { name: 'cpu', tfName: 'cpu', load: () => undefined },
};

export function parseBackendOverride(value: string | undefined): BackendName[] | null {
  if (!value || value.trim() === '' || value.trim() === 'auto') return null;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(BACKEND_ORDER as readonly string[]).includes(n)) {
      throw new Error(`GUIE_BACKEND="${value}": unknown backend "${n}" (choose from ${BACKEND_ORDER.join(', ')}, or auto)`);
    }
  }
  return names as BackendName[];
}

function shortReason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].slice(0, 200);
}

/** A backend counts only if a tiny op actually runs on it (a library can load yet fail to compute). */
async function smokeTest(): Promise<void> {
  const v = tf.tidy(() => tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).arraySync() as number[][]).flat();
  if (v[0] !== 2) throw new Error(`smoke test computed ${v[0]}, expected 2`);
}

/**
 * Tries candidates in order, skipping each unavailable one with a reason.
 * `candidates` is injectable so tests can make a backend fail on purpose.
 */
export async function selectBackend(
  opts: { order?: readonly BackendName[]; env?: NodeJS.ProcessEnv; candidates?: Record<BackendName, BackendCandidate> } = {},
): Promise<BackendChoice> {
  const env = opts.env ?? process.env;
  const override = parseBackendOverride(env.GUIE_BACKEND);
  const order = override ?? opts.order ?? BACKEND_ORDER;
  const candidates = opts.candidates ?? CANDIDATES;
  const attempts: BackendAttempt[] = [];
  for (const name of order) {
    const c = candidates[name];
    try {
      c.load();
      if (!tf.findBackendFactory(c.tfName)) throw new Error(`package loaded but registered no "${c.tfName}" backend`);
      if (name === 'tensorflow-gpu' && gpus().length === 0) throw new Error('tfjs-node-gpu loaded but no NVIDIA GPU is visible (nvidia-smi)');
      const ok = await tf.setBackend(c.tfName);
      if (!ok) throw new Error(`tf.setBackend("${c.tfName}") returned false`);
      await tf.ready();
      await smokeTest();
      const why = override ? `chosen by GUIE_BACKEND=${env.GUIE_BACKEND}` : attempts.length === 0 ? 'first in preference order' : `fastest available (${attempts.map((a) => a.name).join(', ')} unavailable)`;
      attempts.push({ name, ok: true, reason: why });
      return { backend: name, tfBackend: c.tfName, attempts };
    } catch (e) {
      attempts.push({ name, ok: false, reason: shortReason(e) });
    }
  }
  const lines = attempts.map((a) => `  ${a.name}: ${a.reason}`).join('\n');
  throw new Error(`no TensorFlow.js backend could be initialised:\n${lines}`);
}

let chosen: Promise<BackendChoice> | null = null;
/** Process-wide backend initialisation; every entry point (CLI, notebook, tests) calls this once. */
export function initBackend(): Promise<BackendChoice> {
  chosen ??= selectBackend();
  return chosen;
}

export interface GpuInfo {
  name: string;
  memoryTotalMiB: number;
  memoryFreeMiB: number;
}

/** GPUs as nvidia-smi reports them (what tfjs-node-gpu would use); empty where there is none. */
export function gpus(): GpuInfo[] {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,memory.free', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    });
    return out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name, total, free] = line.split(',').map((s) => s.trim());
        return { name, memoryTotalMiB: Number(total), memoryFreeMiB: Number(free) };
      });
  } catch {
    return [];
  }
}

/** Dense fp32 matmul throughput on the current backend: the number that says whether training here is sensible. */
export async function measureMatmulGflops(n = 512, seconds = 1): Promise<number> {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  try {
    // tidy must not return the typed array: it would walk all n*n elements looking for tensors
    const step = () => tf.tidy(() => void tf.matMul(a, b).dataSync());
    step(); // warm-up: kernels compile/allocate on first call
    let reps = 0;
    const t0 = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < seconds || reps < 2) {
      step();
      reps++;
      elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    }
    return (2 * n * n * n * reps) / elapsed / 1e9;
  } finally {
    a.dispose();
    b.dispose();
  }
}

/** Reads a package's version from its package.json, found by walking up from its resolved entry (some packages do not export package.json). */
function packageVersion(pkg: string): string | null {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(pkg));
  } catch {
    return null;
  }
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (json.name === pkg) return json.version ?? null;
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export interface DeviceReport {
  backend: BackendName;
  tfBackend: string;
  attempts: BackendAttempt[];
  /** Devices training would run on: GPUs for tfjs-node-gpu, else 1 (the CPU) — the notebook's REPLICAS. */
  replicas: number;
  gpus: GpuInfo[];
  cpu: { model: string; cores: number };
  memory: { totalGiB: number; freeGiB: number };
  versions: Record<string, string | null>;
  /** The training pipeline's JPEG decoder: TurboJPEG, or sharp with the reason TurboJPEG did not load. */
  jpeg: string;
  matmulGflops: number;
}

export async function deviceReport(opts: { matmulSize?: number } = {}): Promise<DeviceReport> {
  const choice = await initBackend();
  const cpus = os.cpus();
  const visibleGpus = gpus();
  const versions: Record<string, string | null> = { node: process.versions.node };
  for (const p of ['@tensorflow/tfjs', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-backend-wasm', 'onnxruntime-node', 'sharp', '@julusian/jpeg-turbo']) {
    versions[p] = packageVersion(p);
  }
  return {
    backend: choice.backend,
    tfBackend: choice.tfBackend,
    attempts: choice.attempts,
    replicas: choice.backend === 'tensorflow-gpu' ? Math.max(1, visibleGpus.length) : 1,
    gpus: visibleGpus,
    cpu: { model: cpus[0]?.model ?? 'unknown', cores: cpus.length },
    memory: { totalGiB: os.totalmem() / 2 ** 30, freeGiB: os.freemem() / 2 ** 30 },
    versions,
    jpeg: turboJpeg() ? 'TurboJPEG (tf.io.decode_jpeg pixels)' : `sharp (TurboJPEG did not load: ${turboUnavailableReason()})`,
    matmulGflops: await measureMatmulGflops(opts.matmulSize),
  };
}

/** Plain-text rendering shared by the CLI and the notebook. */
export function formatDeviceReport(r: DeviceReport): string {
  const lines = [
    `backend:   ${r.backend} (tfjs "${r.tfBackend}")`,
    ...r.attempts.map((a) => `  ${a.ok ? 'chosen ' : 'skipped'} ${a.name.padEnd(14)} ${a.reason}`),
    `REPLICAS:  ${r.replicas}`,
    `GPUs:      ${r.gpus.length === 0 ? 'none visible' : r.gpus.map((g) => `${g.name} ${(g.memoryFreeMiB / 1024).toFixed(1)}/${(g.memoryTotalMiB / 1024).toFixed(1)} GiB free`).join('; ')}`,
    `CPU:       ${r.cpu.cores} cores, ${r.cpu.model}`,
    `memory:    ${r.memory.freeGiB.toFixed(1)} GiB free of ${r.memory.totalGiB.toFixed(1)} GiB`,
    `matmul:    ${r.matmulGflops.toFixed(1)} GFLOP/s (fp32, 512x512)`,
    `JPEG:      ${r.jpeg} for training batches`,
    'versions:  ' + Object.entries(r.versions).map(([k, v]) => `${k} ${v ?? '(not installed)'}`).join(', '),
  ];
  return lines.join('\n');
}
