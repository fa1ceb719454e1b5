/** Backend selection on the real tfjs engine; failing backends are injected so the fallback path runs everywhere. */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { buildProgram } from '../lib/cli';
import { BackendCandidate, BackendName, CANDIDATES, deviceReport, formatDeviceReport, parseBackendOverride, selectBackend } from '../lib/device';

const broken = (name: BackendName, why: string): BackendCandidate => ({
  name,
  tfName: CANDIDATES[name].tfName,
  load: () => {
    throw new Error(why);
  },
});

describe('backend selection', () => {
  test('falls back in order, skipping each unavailable backend with its reason', async () => {
    const candidates = { ...CANDIDATES, 'tensorflow-gpu': broken('tensorflow-gpu', 'libcudart.so.11.0: cannot open'), tensorflow: broken('tensorflow', 'no libtensorflow') };
    const choice = await selectBackend({ env: {}, candidates });
    expect(choice.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.attempts.map((a) => [a.name, a.ok])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', false],
      ['wasm', true],
    ]);
    expect(choice.attempts[0].reason).toContain('libcudart.so.11.0');
    expect(choice.attempts[2].reason).toMatch(/fastest available \(tensorflow-gpu, tensorflow unavailable\)/);
  });

  test('wasm failing falls through to cpu', async () => {
    const candidates = { ...CANDIDATES, 'tensorflow-gpu': broken('tensorflow-gpu', 'x'), tensorflow: broken('tensorflow', 'y'), wasm: broken('wasm', 'wasm binary missing') };
    const choice = await selectBackend({ env: {}, candidates });
    expect(choice.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(choice.attempts.find((a) => a.name === 'wasm')?.reason).toBe('wasm binary missing');
  });

  test('GUIE_BACKEND overrides the order', async () => {
    const choice = await selectBackend({ env: { GUIE_BACKEND: 'cpu' } });
    expect(choice.backend).toBe('cpu');
    expect(choice.attempts).toEqual([{ name: 'cpu', ok: true, reason: 'chosen by GUIE_BACKEND=cpu' }]);
    const list = await selectBackend({ env: { GUIE_BACKEND: 'tensorflow,wasm' }, candidates: { ...CANDIDATES, tensorflow: broken('tensorflow', 'absent') } });
    expect(list.backend).toBe('wasm');
  });

  test('an override that cannot load is an error that says why', async () => {
    await expect(selectBackend({ env: { GUIE_BACKEND: 'tensorflow' }, candidates: { ...CANDIDATES, tensorflow: broken('tensorflow', 'libtensorflow.so.2: not found') } })).rejects.toThrow(
      /no TensorFlow.js backend could be initialised:\n  tensorflow: libtensorflow.so.2: not found/,
    );
    expect(() => parseBackendOverride('tpu')).toThrow(/unknown backend "tpu"/);
    expect(parseBackendOverride('auto')).toBeNull();
  });

  test('a backend that loads but computes wrong is skipped', async () => {
    // registers a backend whose factory throws on creation: load "works", setBackend fails
    tf.registerBackend('guie-bad', () => {
      throw new Error('device lost');
    });
    const bad: BackendCandidate = { name: 'tensorflow', tfName: 'guie-bad', load: () => undefined };
    const choice = await selectBackend({ env: {}, order: ['tensorflow', 'cpu'], candidates: { ...CANDIDATES, tensorflow: bad } });
    expect(choice.backend).toBe('cpu');
    expect(choice.attempts[0].ok).toBe(false);
    tf.removeBackend('guie-bad');
  });
});

describe('device report', () => {
  test('reports backend, replicas, cores, memory, versions, the JPEG decoder and a measured matmul speed', async () => {
    const r = await deviceReport({ matmulSize: 128 });
    expect(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).toContain(r.backend);
    expect(r.replicas).toBeGreaterThanOrEqual(1);
    expect(r.cpu.cores).toBeGreaterThan(0);
    expect(r.memory.totalGiB).toBeGreaterThan(r.memory.freeGiB * 0.99 - 1e-9);
    expect(r.versions['@tensorflow/tfjs']).toMatch(/^4\./);
    expect(r.versions.sharp).toMatch(/^\d+\.\d+/);
    expect(r.matmulGflops).toBeGreaterThan(0.01);
    const text = formatDeviceReport(r);
    expect(text).toContain(`REPLICAS:  ${r.replicas}`);
    expect(text).toMatch(/matmul: +\d+\.\d GFLOP\/s/);
    // the prebuilt TurboJPEG binding loads on linux-x64, so training batches use it
    expect(r.versions['@julusian/jpeg-turbo']).toBe('2.3.0');
    expect(text).toContain('JPEG:      TurboJPEG (tf.io.decode_jpeg pixels) for training batches');
  });
});

describe('native backend', () => {
  const hasTfjsNode = (() => {
    try {
      require.resolve('@tensorflow/tfjs-node');
      return true;
    } catch {
      return false;
    }
  })();
  // scripts/setup-tfjs-node.sh builds tfjs-node against PyPI's libtensorflow; where it did, auto must pick it
  (hasTfjsNode ? test : test.skip)('auto selection picks tfjs-node when it is installed and computes with it', async () => {
    const choice = await selectBackend({ env: {}, order: ['tensorflow', 'wasm', 'cpu'] });
    expect(choice.backend).toBe('tensorflow');
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    expect(Array.from(tf.matMul(x, x).dataSync())).toEqual([7, 10, 15, 22]);
    expect(tf.erf(tf.scalar(1)).dataSync()[0]).toBeCloseTo(0.8427008, 6);
  });
});

describe('quiet native output', () => {
  const ROOT = path.resolve(__dirname, '..');
  // A script that loads tfjs-node through the project's backend choice, then writes to stderr itself.
  const script = `const d = require(${JSON.stringify(path.join(ROOT, 'dist/lib/device'))});
d.selectBackend({ env: { GUIE_BACKEND: 'tensorflow' } }).then((c) => { console.error('after load: ' + c.backend); });`;
  const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '', ...env } });
  const tensorflowPresent = () => {
    try {
      require.resolve('@tensorflow/tfjs-node');
      return true;
    } catch {
      return false;
    }
  };

  test("libtensorflow's load banner is hidden by default, shown with GUIE_VERBOSE=1, and stderr still works after the load", () => {
    if (!tensorflowPresent()) return console.warn('skipped: @tensorflow/tfjs-node is not set up (bash scripts/setup-tfjs-node.sh)');
    const quiet = run({ GUIE_VERBOSE: '' });
    expect(quiet.status).toBe(0);
    expect(quiet.stderr).toContain('after load: tensorflow');
    expect(quiet.stderr).not.toMatch(/absl::InitializeLog|oneDNN|cpu_feature_guard/);
    const loud = run({ GUIE_VERBOSE: '1' });
    expect(loud.status).toBe(0);
    expect(loud.stderr).toMatch(/absl::InitializeLog|oneDNN|cpu_feature_guard/);
    expect(loud.stderr).toContain('after load: tensorflow');
  });

  test('`guie --verbose` sets GUIE_VERBOSE before any command runs; the option is listed in --help', () => {
    const help = spawnSync(process.execPath, [path.join(ROOT, 'dist/lib/cli.js'), '--help'], { encoding: 'utf8' });
    expect(help.stdout).toContain('--verbose');
    const saved = process.env.GUIE_VERBOSE;
    delete process.env.GUIE_VERBOSE;
    let seen: string | undefined;
    const program = buildProgram();
    program.exitOverride();
    program.command('probe-env').action(() => {
      seen = process.env.GUIE_VERBOSE;
    });
    try {
      program.parse(['node', 'guie', 'probe-env', '--verbose']);
      expect(seen).toBe('1');
    } finally {
      if (saved === undefined) delete process.env.GUIE_VERBOSE;
      else process.env.GUIE_VERBOSE = saved;
    }
  });
});
