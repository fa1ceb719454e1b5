/**
 * ViT forward throughput: our tfjs CLIP tower on the best available backend (lib/device.ts order)
 * vs PyTorch open_clip, same config, random weights, same machine. The two sides alternate for
 * `rounds` rounds and each reports its best round, so a busy shared machine hurts both alike.
 * Usage: node dist/bench/vit-forward.js [config=ViT-B-16] [batch=2] [runs=2] [rounds=2]
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { initBackend } from '../lib/device';
import { Vit } from '../lib/model/vit';
import { getVitConfig } from '../lib/model/vit-config';
import { PROJECT_ROOT } from '../lib/util/paths';

async function main(): Promise<void> {
  const [name = 'ViT-B-16', batchArg = '2', runsArg = '2', roundsArg = '2'] = process.argv.slice(2);
  const batch = Number(batchArg);
  const runs = Number(runsArg);
  const rounds = Number(roundsArg);
  const cfg = getVitConfig(name);
  const { backend } = await initBackend();
  const vit = Vit.random(cfg);
  const x = tf.randomNormal([batch, cfg.imageSize, cfg.imageSize, 3]) as tf.Tensor4D;
  const once = async () => {
    const y = vit.forward(x);
    await y.data();
    y.dispose();
  };
  const spec = { width: cfg.width, layers: cfg.layers, heads: cfg.heads, patch: cfg.patchSize, image: cfg.imageSize, outputDim: cfg.outputDim ?? cfg.width, act: cfg.act, batch, runs };
  const py = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');
  const runTorch = () => {
    const out = execFileSync(py, [path.join(PROJECT_ROOT, 'bench', 'vit_forward_torch.py'), JSON.stringify(spec)], { encoding: 'utf8', env: { ...process.env, CUDA_VISIBLE_DEVICES: '' } });
    return JSON.parse(out.trim().split('\n').pop()!) as { imagesPerSec: number; threads: number; torch: string };
  };

  await once(); // warm-up (kernel setup)
  let ours = 0;
  let torch = { imagesPerSec: 0, threads: 0, torch: '' };
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) await once();
    ours = Math.max(ours, (batch * runs) / ((performance.now() - t0) / 1000));
    const t = runTorch();
    if (t.imagesPerSec > torch.imagesPerSec) torch = t;
  }
  vit.dispose();
  x.dispose();

  console.log(`${name} forward, batch ${batch}, ${runs} timed runs, best of ${rounds} alternating rounds`);
  console.log(`  tfjs (${backend}):            ${ours.toFixed(3)} images/s`);
  console.log(`  PyTorch ${torch.torch} (${torch.threads} threads): ${torch.imagesPerSec.toFixed(3)} images/s`);
  console.log(`  ratio tfjs/PyTorch: ${(ours / torch.imagesPerSec).toFixed(3)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
