/**
 * A `guie train` process killed with SIGKILL mid-epoch and resumed with --resume ends with
 * exactly the weights, optimizer state and per-step losses of an uninterrupted run (bit-equal:
 * same seed -> same init, data order from (seed, epoch), dropout RNG state in the checkpoint).
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildFeatureCache } from '../../lib/train/feature-cache';
import { latestCheckpoint, listCheckpoints } from '../../lib/train/checkpoint';
import { syntheticFeatures, SyntheticConfig } from '../../lib/train/synthetic';
import { ensureBuilt, ROOT } from './build';

const SYN: SyntheticConfig = { classes: 200, perClass: 10, dim: 384, signalDim: 16, separation: 2.5, noise: 1, sources: ['a', 'b', 'c'], seed: 11 };
const CLI = `const {Command}=require('commander');const {register}=require('./dist/lib/train/commands');const p=new Command('guie');register(p);p.parseAsync(['node','guie',...process.argv.slice(1)]).catch(e=>{console.error(e.message);process.exit(1)});`;

let tmp: string;
let args: string[];

async function cache(dir: string, split: number, perClass: number): Promise<void> {
  const b = syntheticFeatures({ ...SYN, perClass }, split);
  await buildFeatureCache({
    dir, dim: SYN.dim, total: b.labels.length, key: `synthetic-${split}`, batchSize: 500, progressMode: 'silent',
    produce: async (s, n) => ({ features: b.features.slice(s * SYN.dim, (s + n) * SYN.dim), labels: b.labels.slice(s, s + n), sources: b.sources.slice(s, s + n) }),
  });
}

function steps(out: string): Array<{ type: string; step: number; loss: number; valMP5?: number }> {
  const f = path.join(out, 'metrics.jsonl');
  if (!fs.existsSync(f)) return [];
  return fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l));
}

beforeAll(async () => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-kill-'));
  await cache(path.join(tmp, 'train'), 0, 10);
  await cache(path.join(tmp, 'val'), 1, 3);
  const config = path.join(tmp, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ seed: 5, batchSize: 32, epochs: 4, lr: 0.005, dropout: 0.2, warmupSteps: 10 }));
  args = ['train', '--config', config, '--train-features', path.join(tmp, 'train'), '--val-features', path.join(tmp, 'val'), '--checkpoint-every', '10', '--keep', '2', '--clip', '5', '--smoothing', '0.1', '--progress', 'silent'];
}, 120_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// the default backend (tfjs-node where installed) and wasm: both replay bit for bit
const BACKENDS = ['auto', 'wasm'];

test.each(BACKENDS)('SIGKILL mid-epoch + --resume reproduces the uninterrupted run bit for bit (GUIE_BACKEND=%s)', async (backend) => {
  const env = { ...process.env, GUIE_BACKEND: backend };
  const full = path.join(tmp, `full-${backend}`);
  const r = spawnSync('node', ['-e', CLI, ...args, '--out', full], { cwd: ROOT, env, encoding: 'utf8' });
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.status).toBe(0);

  // second run: kill -9 once it is well into epoch 2 (62 steps per epoch), between checkpoints
  const killed = path.join(tmp, `killed-${backend}`);
  const child = spawn('node', ['-e', CLI, ...args, '--out', killed], { cwd: ROOT, env, stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_c, sig) => res(sig)));
  await new Promise<void>((res) => {
    const t = setInterval(() => {
      const s = steps(killed).filter((l) => l.type === 'step');
      if (s.length >= 85 && s[s.length - 1].step % 10 >= 3) {
        child.kill('SIGKILL');
        clearInterval(t);
        res();
      }
    }, 2);
  });
  expect(await exited).toBe('SIGKILL');
  const killedAt = Math.max(...steps(killed).map((l) => l.step));
  const before = latestCheckpoint(path.join(killed, 'checkpoints'))!;
  expect(killedAt).toBeLessThan(4 * 62); // it really was interrupted
  expect(before.state.step).toBeLessThan(killedAt); // the work after the last checkpoint is lost...
  expect(before.state.batchInEpoch).toBeGreaterThan(0); // ...and that checkpoint is mid-epoch
  expect(listCheckpoints(path.join(killed, 'checkpoints')).length).toBeLessThanOrEqual(2);

  const res = spawnSync('node', ['-e', CLI, ...args, '--out', killed, '--resume'], { cwd: ROOT, env, encoding: 'utf8' });
  expect(res.status).toBe(0);
  expect(res.stderr).toContain(`resumed from ${before.dir}`);

  const a = latestCheckpoint(path.join(full, 'checkpoints'))!;
  const b = latestCheckpoint(path.join(killed, 'checkpoints'))!;
  expect(b.state.step).toBe(4 * 62);
  expect(b.state).toEqual(a.state);
  expect([...b.tensors.keys()]).toEqual([...a.tensors.keys()]);
  for (const [name, t] of a.tensors) expect(Buffer.from(b.tensors.get(name)!.values.buffer).equals(Buffer.from(t.values.buffer))).toBe(true);
  // the log of the resumed run is the uninterrupted run's log, line for line (step losses, val mP@5, and the interrupted epoch's mean loss)
  const strip = (l: { type: string; step: number; loss?: number; valMP5?: number; trainLoss?: number }) => [l.type, l.step, l.loss ?? null, l.valMP5 ?? null, l.trainLoss ?? null];
  expect(steps(killed).map(strip)).toEqual(steps(full).map(strip));
}, 150_000);

test('train refuses to overwrite a run without --resume', () => {
  const r = spawnSync('node', ['-e', CLI, ...args, '--out', path.join(tmp, 'full-wasm')], { cwd: ROOT, env: { ...process.env, GUIE_BACKEND: 'wasm' }, encoding: 'utf8' });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/already holds checkpoints: pass --resume/);
  // --resume with another schedule would splice two runs: refused, naming what changed
  const more = spawnSync('node', ['-e', CLI, ...args, '--out', path.join(tmp, 'full-wasm'), '--resume', '--epochs', '6'], { cwd: ROOT, env: { ...process.env, GUIE_BACKEND: 'wasm' }, encoding: 'utf8' });
  expect(more.status).toBe(1);
  expect(more.stderr).toMatch(/that run was trained with other settings \(epochs 4 -> 6\); --resume continues a run with its own settings/);
  // the same settings on a finished run: nothing to train, and it says so
  const again = spawnSync('node', ['-e', CLI, ...args, '--out', path.join(tmp, 'full-wasm'), '--resume'], { cwd: ROOT, env: { ...process.env, GUIE_BACKEND: 'wasm' }, encoding: 'utf8' });
  expect(again.status).toBe(0);
  expect(again.stderr + again.stdout).toMatch(/already finished all 4 epochs: nothing to train/);
});
