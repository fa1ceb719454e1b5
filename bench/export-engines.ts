/**
 * Embedding throughput of the exported graph: ONNX Runtime (node, CPU) vs the tfjs GraphDef runner
 * on the same graph (tfjs backend from GUIE_BACKEND or cpu). Prints images/s and the ratio.
 * Usage: node dist/bench/export-engines.js [vitConfig=test-small] [images=32]
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { getVitConfig } from '../lib/model/vit-config';
import { clipInferenceGraph } from '../lib/export/inference-graph';
import { randomClipWeights, randomImage } from '../lib/export/random-weights';
import { writeOnnx } from '../lib/export/onnx';
import { OnnxEmbedder } from '../lib/export/onnx-embedder';
import { TfjsGraphEmbedder } from '../lib/export/tfjs-graph';
import type { RgbImage } from '../lib/core/rgb-image';
import type { Embedder } from '../lib/embedder';

async function timeIt(e: Embedder, images: RgbImage[]): Promise<number> {
  await e.embed(images.slice(0, 2)); // warm-up
  const t0 = performance.now();
  await e.embed(images);
  return images.length / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const backend = process.env.GUIE_BACKEND ?? 'cpu';
  if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend(backend);
  const cfg = getVitConfig(process.argv[2] ?? 'test-small');
  const n = Number(process.argv[3] ?? 32);
  const graph = clipInferenceGraph(cfg, randomClipWeights(cfg));
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'guie-bench-')), 'model.onnx');
  writeOnnx(file, graph);
  const s = cfg.imageSize;
  const images = Array.from({ length: n }, (_, i) => ({ data: randomImage(s, s, i), width: s, height: s }));
  const onnx = await OnnxEmbedder.create(file, cfg.preprocess);
  const tfjs = await TfjsGraphEmbedder.create(graph, cfg.preprocess);
  const ortRate = await timeIt(onnx, images);
  const tfjsRate = await timeIt(tfjs, images);
  console.log(`${cfg.name} ${s}px, ${n} images: onnxruntime-node ${ortRate.toFixed(1)} img/s, tfjs-${tf.getBackend()} ${tfjsRate.toFixed(1)} img/s, ratio ${(ortRate / tfjsRate).toFixed(1)}x`);
  onnx.dispose();
  tfjs.dispose();
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

void main();
