/**
 * What travels with a model: a ViT's weights are found where `download-weights` puts them
 * (<paths.weights>/<name>.safetensors), and every export records its backbone and preprocessing
 * (ONNX metadata_props, export.json beside the SavedModel), which `--model` loaders read back.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../lib/device';
import { exportedAbout, exportModel } from '../../lib/export/export-model';
import { clipInferenceGraph } from '../../lib/export/inference-graph';
import { readOnnxAbout, writeOnnx } from '../../lib/export/onnx';
import { randomClipWeights } from '../../lib/export/random-weights';
import { loadBackbone } from '../../lib/model/backbones';
import { getVitConfig } from '../../lib/model/vit-config';
import { loadModel } from '../../lib/model-loader';
import { saveVit } from '../../lib/model/weights';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-about-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
beforeAll(() => initBackend());

test('a CLIP ViT backbone is found at <paths.weights>/<name>.safetensors', async () => {
  const original = await loadBackbone('test-tiny', { randomSeed: 9 });
  const weightsDir = path.join(tmp, 'weights');
  fs.mkdirSync(weightsDir);
  saveVit(original.vit!, path.join(weightsDir, 'test-tiny.safetensors'));
  const found = await loadBackbone('test-tiny', { weightsDir });
  try {
    const x = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    const [a, b] = [original.features(x), found.features(x)];
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])).toBe(0);
    tf.dispose([x, a, b]);
  } finally {
    original.dispose();
    found.dispose();
  }
  await expect(loadBackbone('test-small', { weightsDir })).rejects.toThrow(`none at ${path.join(weightsDir, 'test-small.safetensors')} (paths.weights)`);
});

test('an export records backbone and preprocessing; loaders feed the model that geometry; unrecorded models are refused', async () => {
  const cfg = getVitConfig('test-tiny');
  const graph = clipInferenceGraph(cfg, randomClipWeights(cfg));
  expect(graph.about).toEqual({ backbone: 'test-tiny', preprocess: cfg.preprocess }); // the ViT's own CLIP crop, not a bilinear default
  const dir = path.join(tmp, 'export');
  await exportModel(graph, dir, { zip: false });
  expect(readOnnxAbout(path.join(dir, 'model.onnx'))).toEqual(graph.about);
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'export.json'), 'utf8'))).toMatchObject({ backbone: 'test-tiny', preprocess: cfg.preprocess });
  expect(exportedAbout({ savedModelDir: path.join(dir, 'saved_model') })).toMatchObject(graph.about!);

  const viaOnnx = await loadModel(path.join(dir, 'model.onnx'));
  const viaSavedModel = await loadModel(path.join(dir, 'saved_model'));
  await expect(loadModel(path.join(tmp, 'weights'))).rejects.toThrow(/weights: not a checkpoint \(no state.json\) and holds no checkpoints\//);
  await expect(loadModel(path.join(tmp, 'nothing-here'))).rejects.toThrow(/--model .*nothing-here: does not exist \(give an exported model.onnx, a saved_model folder, a run folder or a checkpoint\)/);
  expect(viaOnnx.embedder.preprocess).toEqual(cfg.preprocess);
  expect(viaSavedModel.embedder.preprocess).toEqual(cfg.preprocess);
  viaOnnx.embedder.dispose();
  viaSavedModel.embedder.dispose();

  const bare = path.join(tmp, 'bare.onnx');
  writeOnnx(bare, { ...graph, about: undefined });
  expect(readOnnxAbout(bare)).toBeNull();
  await expect(loadModel(bare)).rejects.toThrow(`${bare}: records no preprocessing (exported by an older version or another tool): re-export it with \`guie export\`, or pass --image-size N`);
  const sized = await loadModel(bare, { imageSize: 48 });
  expect(sized.embedder.preprocess).toMatchObject({ imageSize: 48, resize: 'bilinear' });
  sized.embedder.dispose();
});
