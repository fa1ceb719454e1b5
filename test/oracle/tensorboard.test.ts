/**
 * TensorBoard logs of `guie train`, read back by TensorBoard's own Python readers (EventAccumulator,
 * the projector plugin's config proto): every step's loss / lr / images/s and every epoch's validation
 * mP@5 (overall and per domain) equal metrics.jsonl's, and the projector lists the validation embeddings.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildFeatureCache } from '../../lib/train/feature-cache';
import { syntheticFeatures, type SyntheticConfig } from '../../lib/train/synthetic';
import { ensureBuilt, ROOT } from '../train/build';
import { runPythonJson } from './python';

const SYN: SyntheticConfig = { classes: 60, perClass: 8, dim: 48, signalDim: 12, separation: 2.5, noise: 1, sources: ['dishes', 'tools'], seed: 3 };
const CLI = `const {Command}=require('commander');const {register}=require('./dist/lib/train/commands');const p=new Command('guie');register(p);p.parseAsync(['node','guie',...process.argv.slice(1)]).catch(e=>{console.error(e.message);process.exit(1)});`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-tb-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function cache(dir: string, split: number, perClass: number): Promise<void> {
  const b = syntheticFeatures({ ...SYN, perClass }, split);
  await buildFeatureCache({
    dir, dim: SYN.dim, total: b.labels.length, key: `synthetic-${split}`, batchSize: 500, progressMode: 'silent',
    produce: async (s, n) => ({ features: b.features.slice(s * SYN.dim, (s + n) * SYN.dim), labels: b.labels.slice(s, s + n), sources: b.sources.slice(s, s + n) }),
  });
}

test('events and projector files that TensorBoard reads back with the values metrics.jsonl holds', async () => {
  ensureBuilt();
  await cache(path.join(tmp, 'train'), 0, 8);
  await cache(path.join(tmp, 'val'), 1, 3);
  const out = path.join(tmp, 'run');
  const r = spawnSync('node', ['-e', CLI, 'train', '--train-features', path.join(tmp, 'train'), '--val-features', path.join(tmp, 'val'), '--epochs', '3', '--out', out, '--progress', 'silent'], { cwd: ROOT, env: { ...process.env, GUIE_BATCH_SIZE: '32', GUIE_HEAD_INIT: 'random' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`guie train failed:\n${r.stderr}`);
  const events = fs.readdirSync(out).filter((f) => f.startsWith('events.out.tfevents.'));
  expect(events).toHaveLength(1);

  type Line = { type: string; step: number; loss?: number; lr?: number; imagesPerSec?: number; valMP5?: number; valBySource?: Record<string, number> };
  const log = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
  const steps = log.filter((l) => l.type === 'step');
  const epochs = log.filter((l) => l.type === 'epoch');
  expect(steps.length).toBeGreaterThan(20);
  expect(epochs).toHaveLength(3);

  const tb = runPythonJson<{ scalars: Record<string, Array<[number, number]>>; embeddings: Array<{ tensor_name: string; tensor_path: string; metadata_path: string; tensor_shape: number[] }> }>(path.join(__dirname, 'tensorboard_read.py'), [out]);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)); // float32 in the event, float64 in the log
  const series = (tag: string) => tb.scalars[tag] ?? [];
  expect(series('train/loss').map(([s]) => s)).toEqual(steps.map((l) => l.step));
  series('train/loss').forEach(([, v], i) => expect(close(v, steps[i].loss!)).toBe(true));
  series('train/lr').forEach(([, v], i) => expect(close(v, steps[i].lr!)).toBe(true));
  series('train/images_per_sec').forEach(([, v], i) => expect(close(v, steps[i].imagesPerSec!)).toBe(true));
  expect(series('val/mP@5').map(([s]) => s)).toEqual(epochs.map((l) => l.step));
  series('val/mP@5').forEach(([, v], i) => expect(close(v, epochs[i].valMP5!)).toBe(true));
  for (const d of SYN.sources!) {
    expect(series(`val/mP@5/${d}`)).toHaveLength(3);
    series(`val/mP@5/${d}`).forEach(([, v], i) => expect(close(v, epochs[i].valBySource![d])).toBe(true));
  }

  // the projector: the last epoch's validation embeddings (unit vectors), with class and domain per row
  const rows = SYN.classes * 3;
  expect(tb.embeddings).toEqual([{ tensor_name: 'validation', tensor_path: 'validation/tensors.tsv', metadata_path: 'validation/metadata.tsv', tensor_shape: [rows, 64] }]);
  const tensors = fs.readFileSync(path.join(out, 'validation', 'tensors.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t').map(Number));
  expect(tensors).toHaveLength(rows);
  for (const v of tensors) expect(Math.abs(Math.hypot(...v) - 1)).toBeLessThan(1e-5);
  const meta = fs.readFileSync(path.join(out, 'validation', 'metadata.tsv'), 'utf8').trim().split('\n');
  expect(meta[0]).toBe('label\tdomain');
  expect(meta).toHaveLength(rows + 1);
  expect(new Set(meta.slice(1).map((l) => l.split('\t')[1]))).toEqual(new Set(SYN.sources));
}, 300_000);
