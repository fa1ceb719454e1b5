/**
 * The offline backbones (nsfwjs' MobileNetV2-1.4, a tfjs graph model with fused ops; InceptionV3
 * mixed5, converted to a graph model by lib/model) joined
 * to our head: the unfused export graph run by TensorFlow (tf.saved_model.load of our
 * submission.zip, tensorflow-cpu from PyPI), by tfjs and by onnxruntime-node, against the packaged
 * fused model run by tf.loadGraphModel + the same head in tfjs. Tolerance 1e-4.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import '@tensorflow/tfjs-backend-wasm';
import { buildCacheContents, type CacheMeta } from '../../lib/model/cnn/cnn-cache';
import { PACKAGED_CNNS } from '../../lib/model/cnn/registry';
import { graphModelInferenceGraph } from '../../lib/export/inference-graph';
import { f32 } from '../../lib/export/graph';
import { writeOnnx } from '../../lib/export/onnx';
import { writeSavedModel } from '../../lib/export/savedmodel';
import { writeSubmissionZip } from '../../lib/export/submission';
import { runPythonJson } from './python';
import { loadTfjsGraph, runTfjsGraph } from '../../lib/export/tfjs-graph';
import { randomImage } from '../../lib/export/random-weights';
import { Rng } from '../../lib/util/random';

it.each(['mobilenet_v2_140', 'inception_v3_mixed5'])('%s graph model + Dense(64) + L2: unfused export (TF SavedModel, tfjs, onnxruntime) matches the packaged model within 1e-4', async (name) => {
  await tf.setBackend('wasm'); // the cpu backend takes ~20 s per MobileNetV2 image
  const spec = PACKAGED_CNNS[name];
  const cache = await buildCacheContents(spec);
  const meta = (cache.json.userDefinedMetadata as { guie: CacheMeta }).guie;
  const weightData = cache.weights.buffer.slice(cache.weights.byteOffset, cache.weights.byteOffset + cache.weights.byteLength) as ArrayBuffer;
  const r = new Rng(5);
  const weight = f32(Array.from({ length: spec.featureDim * 64 }, () => (r.float() * 2 - 1) / Math.sqrt(spec.featureDim)), [64, spec.featureDim]);
  const bias = f32(Array.from({ length: 64 }, () => r.float() * 0.1), [64]);
  const graph = graphModelInferenceGraph({ name: spec.name, model: cache.json, weightData, outputNode: meta.outputNode, featureDim: spec.featureDim, preprocess: spec.preprocess }, new Map([['head.proj.weight', weight], ['head.proj.bias', bias]]));
  const ops = new Set(graph.nodes.map((n) => n.op));
  expect([...ops].filter((o) => o.startsWith('_Fused') || o.startsWith('Fused'))).toEqual([]);

  const s = spec.preprocess.imageSize;
  const data = randomImage(s, s, 1);
  // reference: the packaged (fused) graph model, its feature node, our head, in tfjs
  const fusedModel = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: cache.json.modelTopology, weightSpecs: cache.json.weightsManifest[0].weights, weightData }));
  const ref = tf.tidy(() => {
    const x = tf.div(tf.tensor4d(Float32Array.from(data), [1, s, s, 3]), 255);
    const feats = fusedModel.execute({ [meta.inputNode]: x }, meta.outputNode) as tf.Tensor2D;
    const y = tf.add(tf.matMul(feats, tf.tensor2d(weight.data as Float32Array, [64, spec.featureDim]), false, true), tf.tensor1d(bias.data as Float32Array));
    return tf.div(y, tf.norm(y, 2, -1, true)).dataSync() as Float32Array;
  });
  const model = await loadTfjsGraph(graph);
  const ours = runTfjsGraph(model, graph, { data, shape: [1, s, s, 3] }).embedding;
  const errTfjs = ours.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-mnv2-'));
  try {
    writeOnnx(path.join(dir, 'm.onnx'), graph);
    const session = await ort.InferenceSession.create(path.join(dir, 'm.onnx'));
    const out = await session.run({ image_tensor: new ort.Tensor('uint8', data, [1, s, s, 3]) });
    const got = out.embedding.data as Float32Array;
    const errOrt = got.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0);
    writeSavedModel(path.join(dir, 'sm'), graph);
    await writeSubmissionZip(path.join(dir, 'sm'), path.join(dir, 'submission.zip'));
    fs.writeFileSync(path.join(dir, 'batch.bin'), data);
    const py = runPythonJson<{ embedding: number[][] }>(path.join(__dirname, 'export_tf_load.py'), [path.join(dir, 'submission.zip'), path.join(dir, 'batch.bin'), `1,${s},${s},3`]);
    const errTf = py.embedding.flat().reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0);
    // a non-square, off-size batch still runs (the graph resizes)
    const odd = await session.run({ image_tensor: new ort.Tensor('uint8', randomImage(300, 170, 3), [1, 170, 300, 3]) });
    expect(odd.embedding.dims).toEqual([1, 64]);
    await session.release();
    console.log(`${name} export vs packaged model: TF SavedModel ${errTf.toExponential(2)}, tfjs ${errTfjs.toExponential(2)}, onnxruntime ${errOrt.toExponential(2)}`);
    expect(errTf).toBeLessThan(1e-4);
    expect(errTfjs).toBeLessThan(1e-4);
    expect(errOrt).toBeLessThan(1e-4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fusedModel.dispose();
    model.dispose();
  }
}, 120_000);
