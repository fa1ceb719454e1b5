/**
 * One writer per run folder (lib/util/lock.ts), on real files and real processes: a second writer is
 * refused naming the holder, a dead holder's lock is taken over with a message, release removes it,
 * and two `guie train --out X` at once end with one clean refusal and one finished run.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildFeatureCache } from '../lib/train/feature-cache';
import { syntheticFeatures } from '../lib/train/synthetic';
import { FolderLockedError, LOCK_FILE, lockFolder } from '../lib/util/lock';
import { ensureBuilt, ROOT } from './train/build';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-lock-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a held folder is refused naming the holder; release frees it; a dead holder is taken over', () => {
  const dir = path.join(tmp, 'run');
  const release = lockFolder(dir, 'guie run');
  const holder = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'));
  expect(holder).toMatchObject({ pid: process.pid, host: os.hostname(), command: 'guie run' });
  expect(() => lockFolder(dir, 'guie train')).toThrow(FolderLockedError);
  expect(() => lockFolder(dir, 'guie train')).toThrow(new RegExp(`run is in use by pid ${process.pid} on .* \\(guie run, since .*\\): wait for it to finish, or choose another --out`));
  release();
  expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  // a lock left by a process that has exited (kill -9 leaves it behind)
  const dead = spawnSync('node', ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: Number(dead.stdout), host: os.hostname(), started: '2026-01-01T00:00:00.000Z', command: 'guie train' }));
  const said: string[] = [];
  const again = lockFolder(dir, 'guie run', (m) => said.push(m));
  expect(said.join('\n')).toMatch(new RegExp(`taking over the lock of pid ${dead.stdout} \\(guie train, since 2026-01-01.*\\), which is no longer running`));
  again();
});

test('two `guie train --out X` at once: one refusal naming the other, one finished run', async () => {
  ensureBuilt();
  const cache = path.join(tmp, 'feats');
  const syn = { classes: 100, perClass: 10, dim: 256, signalDim: 16, separation: 2.5, noise: 1, sources: ['a'], seed: 2 };
  const b = syntheticFeatures(syn, 0);
  await buildFeatureCache({ dir: cache, dim: syn.dim, total: b.labels.length, key: 'syn', batchSize: 500, progressMode: 'silent', produce: async (s, n) => ({ features: b.features.slice(s * syn.dim, (s + n) * syn.dim), labels: b.labels.slice(s, s + n), sources: b.sources.slice(s, s + n) }) });
  const CLI = `const {Command}=require('commander');const {register}=require('./dist/lib/train/commands');const p=new Command('guie');register(p);p.parseAsync(['node','guie',...process.argv.slice(1)]).catch(e=>{console.error(e.message);process.exit(1)});`;
  const out = path.join(tmp, 'train');
  const args = ['-e', CLI, 'train', '--train-features', cache, '--val-features', 'none', '--epochs', '40', '--out', out, '--progress', 'silent'];
  const env = { ...process.env, GUIE_BACKEND: 'wasm', GUIE_BACKBONE_EPOCHS: '0' };
  const first = spawn('node', args, { cwd: ROOT, env, stdio: 'ignore' });
  const firstDone = new Promise<number | null>((res) => first.on('exit', (c) => res(c)));
  while (!fs.existsSync(path.join(out, LOCK_FILE))) await new Promise((r) => setTimeout(r, 50));
  const second = spawnSync('node', args, { cwd: ROOT, env, encoding: 'utf8' });
  expect(second.status).toBe(1);
  expect(second.stderr).toMatch(new RegExp(`train is in use by pid ${first.pid} .*\\(guie train, since`));
  expect(await firstDone).toBe(0);
  expect(fs.existsSync(path.join(out, LOCK_FILE))).toBe(false);
  expect(fs.existsSync(path.join(out, 'checkpoints', 'best', 'state.json'))).toBe(true);
}, 180_000);
