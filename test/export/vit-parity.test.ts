/**
 * The export of lib/model's tfjs ViT + embedding head (weights via namedWeights()) against that
 * model's own tfjs embedder: the SavedModel read back from disk (run by tfjs's GraphDef executor)
 * and the ONNX file (onnxruntime-node) both match within 1e-4. Images are at the model's size, where
 * both sides' Pillow resampling is the identity (raw sizes: test/export/raw-preprocess.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { getVitConfig } from '../../lib/model/vit-config';
import { Vit } from '../../lib/model/vit';
import { EmbeddingHead } from '../../lib/model/heads';
import { createTfjsEmbedder } from '../../lib/model/tfjs-embedder';
import { namedWeightsFromTf } from '../../lib/export/export-model';
import { clipInferenceGraph } from '../../lib/export/inference-graph';
import { readSavedModel, writeSavedModel } from '../../lib/export/savedmodel';
import { writeOnnx } from '../../lib/export/onnx';
import { OnnxEmbedder } from '../../lib/export/onnx-embedder';
import { TfjsGraphEmbedder } from '../../lib/export/tfjs-graph';
import { randomImage } from '../../lib/export/random-weights';

it.each(['test-tiny', 'test-small'])('%s: SavedModel and ONNX exports match the tfjs training-side model within 1e-4', async (name) => {
  await tf.setBackend('cpu');
  const cfg = getVitConfig(name);
  const vit = Vit.random(cfg, 7);
  const head = EmbeddingHead.create({ inDim: cfg.outputDim ?? cfg.width, dim: 64, dropout: 0.2 }, 3);
  const named = vit.namedWeights();
  const weights = namedWeightsFromTf(named);
  tf.dispose([...named.values()]);
  for (const [k, v] of namedWeightsFromTf(head.namedWeights())) weights.set(k, v);
  const graph = clipInferenceGraph(cfg, weights);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-parity-'));
  try {
    writeSavedModel(path.join(dir, 'sm'), graph);
    writeOnnx(path.join(dir, 'm.onnx'), graph);
    const s = cfg.imageSize;
    const images = [1, 2, 3].map((seed) => ({ data: randomImage(s, s, seed, seed === 3), width: s, height: s }));
    const training = createTfjsEmbedder(vit, head);
    const ref = await training.embed(images);
    const fromSavedModel = await TfjsGraphEmbedder.create(readSavedModel(path.join(dir, 'sm')).graph, cfg.preprocess);
    const fromOnnx = await OnnxEmbedder.create(path.join(dir, 'm.onnx'), cfg.preprocess);
    for (const e of [fromSavedModel, fromOnnx]) {
      const got = await e.embed(images);
      const err = got.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0);
      console.log(`${name} ${e.name} vs ${training.name}: max abs ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-4);
      e.dispose();
    }
    training.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
