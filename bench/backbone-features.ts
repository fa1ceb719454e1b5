/**
 * Feature throughput of the offline backbones on the chosen tfjs backend (wasm here):
 * images/s for each packaged CNN at batch 16, and the ratio MobileNetV2-1.4 / InceptionV3-mixed5.
 *   node dist/bench/backbone-features.js [seconds-per-backbone=15]
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/device';
import { loadBackbone } from '../lib/model/backbones';

const BATCH = 16;

async function imagesPerSecond(name: string, seconds: number): Promise<{ load: number; ips: number }> {
  const t0 = performance.now();
  const b = await loadBackbone(name);
  const load = (performance.now() - t0) / 1000;
  const s = b.preprocess.imageSize;
  const x = tf.randomUniform([BATCH, s, s, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const step = async () => {
    const f = b.features(x);
    await f.data();
    f.dispose();
  };
  await step(); // warm-up: kernels and weights settle on the first call
  let images = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000 || images < 2 * BATCH) {
    await step();
    images += BATCH;
  }
  const ips = images / ((performance.now() - start) / 1000);
  x.dispose();
  b.dispose();
  return { load, ips };
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 15);
  const choice = await initBackend();
  console.log(`backend ${choice.backend}, batch ${BATCH}, ${seconds} s per backbone`);
  const results: Record<string, { load: number; ips: number }> = {};
  for (const name of ['mobilenet_v2_140', 'inception_v3_mixed5']) {
    results[name] = await imagesPerSecond(name, seconds);
    const r = results[name];
    console.log(`${name.padEnd(20)} load ${r.load.toFixed(2)} s  ${r.ips.toFixed(1)} images/s  ${(1000 / r.ips).toFixed(0)} ms/image`);
  }
  console.log(`ratio mobilenet_v2_140 / inception_v3_mixed5: ${(results.mobilenet_v2_140.ips / results.inception_v3_mixed5.ips).toFixed(2)}x`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
