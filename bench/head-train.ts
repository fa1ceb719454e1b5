/**
 * Cached-feature head training, steps/s: this project's loop (lib/train/loop.ts train(): batches
 * gathered from an in-memory feature cache, Rng dropout, Dense(64)+L2+ArcFace, label-smoothed
 * CE, AdamW, JSONL log) against PyTorch doing the same steps (bench/head_train_torch.py).
 *   node dist/bench/head-train.js [rows=4096] [dim=1024] [classes=1000] [batch=256] [steps=32]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../lib/device';
import { cacheDataset } from '../lib/train/feature-cache';
import { train } from '../lib/train/loop';
import { DEFAULT_TRAIN_CONFIG } from '../lib/train/settings';
import { createModel, HeadConfig, initHeadWeights } from '../lib/train/model';
import { Rng } from '../lib/util/random';
import { PROJECT_ROOT } from '../lib/util/paths';

async function main(): Promise<void> {
  const [rows, dim, classes, batch, steps] = [4096, 1024, 1000, 256, 32].map((d, i) => Number(process.argv[2 + i] ?? d));
  const choice = await initBackend();
  const rng = new Rng(0);
  const features = Float32Array.from({ length: rows * dim }, () => rng.normal());
  const labels = Int32Array.from({ length: rows }, () => rng.int(classes));
  const data = cacheDataset({ dir: '', dim, count: rows, features, labels, sources: new Int32Array(rows), sourceNames: ['bench'] });
  const head: HeadConfig = { inputDim: dim, embeddingDim: 64, numClasses: classes, dropout: 0.2, margin: 'arcface', scale: 30, marginValue: 0.3, labelSmoothing: 0.1 };
  const model = createModel(head, initHeadWeights(head, 0));
  const perEpoch = Math.floor(rows / batch);
  const epochs = Math.ceil((steps + 3) / perEpoch);
  const times: number[] = [];
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-bench-'));
  await train(
    model,
    { train: data, val: null },
    { ...DEFAULT_TRAIN_CONFIG, batchSize: batch, stages: [{ name: 'head', epochs, train: '^head\\.' }], checkpointEvery: 1 << 30, progressMode: 'silent' },
    { outDir: out, log: () => {}, onStep: () => times.push(performance.now()) },
  );
  fs.rmSync(out, { recursive: true, force: true });
  model.dispose();
  // steps 4.. after a 3-step warm-up, excluding epoch-end checkpoint writes (the torch peer has none)
  const ends = new Set(Array.from({ length: epochs }, (_, e) => (e + 1) * perEpoch - 1));
  let dt = 0;
  let counted = 0;
  for (let i = 3; i < times.length && counted < steps; i++) {
    if (ends.has(i - 1)) continue;
    dt += times[i] - times[i - 1];
    counted++;
  }
  const ts = (counted * 1000) / dt;
  // torch at 1 thread and at all cores; the better one is the peer (a loaded 2-core box punishes oversubscription)
  const py = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');
  const torchAt = (threads: number) => {
    const r = spawnSync(py, [path.join(PROJECT_ROOT, 'bench', 'head_train_torch.py'), ...[rows, dim, classes, batch, steps, threads].map(String)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`torch peer failed: ${r.stderr}`);
    return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { stepsPerSec: number }).stepsPerSec;
  };
  const runs = [...new Set([1, os.cpus().length])].map((t) => ({ threads: t, sps: torchAt(t) }));
  const best = runs.reduce((a, b) => (b.sps > a.sps ? b : a));
  const torch = best.sps;
  console.log(`head training on cached features: ${rows} rows x ${dim}, ${classes} classes, batch ${batch}, ${counted} timed steps`);
  console.log(`  guie-ts (tfjs ${choice.backend}): ${ts.toFixed(2)} steps/s (${(ts * batch).toFixed(0)} img/s)`);
  for (const r of runs) console.log(`  pytorch (CPU, ${r.threads} thread${r.threads > 1 ? 's' : ''}): ${r.sps.toFixed(2)} steps/s (${(r.sps * batch).toFixed(0)} img/s)`);
  console.log(`  ratio guie-ts / best pytorch: ${(ts / torch).toFixed(3)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
