/** TensorBundle, SavedModel and ONNX writers without Python: round trips, corruption checks, ONNX Runtime vs tfjs. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { f32, i32, GraphBuilder } from '../../lib/export/graph';
import { readTensorBundle, readBundleIndex, writeTensorBundle } from '../../lib/export/tensor-bundle';
import { readSavedModel, writeSavedModel } from '../../lib/export/savedmodel';
import { writeOnnx } from '../../lib/export/onnx';
import { clipInferenceGraph } from '../../lib/export/inference-graph';
import { loadTfjsGraph, runTfjsGraph } from '../../lib/export/tfjs-graph';
import { randomClipWeights, randomImage } from '../../lib/export/random-weights';
import { getVitConfig } from '../../lib/model/vit-config';

let root: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-export-test-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('TensorBundle', () => {
  it('round-trips tensors in sorted index order, with dtypes and shapes', () => {
    const prefix = path.join(root, 'bundle');
    const tensors = [
      { name: 'zeta/w', ...f32([1, 2, 3, 4, 5, 6], [2, 3]) },
      { name: 'alpha', ...i32([7, -8], [2]) },
      { name: 'mid.bias', ...f32([0.5], []) },
    ];
    writeTensorBundle(prefix, tensors);
    expect(readBundleIndex(prefix).map((e) => e.name)).toEqual(['alpha', 'mid.bias', 'zeta/w']);
    const back = readTensorBundle(prefix);
    expect(Array.from(back.get('zeta/w')!.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.get('zeta/w')!.shape).toEqual([2, 3]);
    expect(Array.from(back.get('alpha')!.data)).toEqual([7, -8]);
    expect(back.get('alpha')!.dtype).toBe('int32');
    expect(back.get('mid.bias')!.shape).toEqual([]);
  });

  it('names the file and tensor when data or index is corrupted', () => {
    const prefix = path.join(root, 'bad');
    writeTensorBundle(prefix, [{ name: 'w', ...f32([1, 2, 3], [3]) }]);
    const data = `${prefix}.data-00000-of-00001`;
    const bytes = fs.readFileSync(data);
    bytes[0] ^= 1;
    fs.writeFileSync(data, bytes);
    expect(() => readTensorBundle(prefix)).toThrow(/bad\.data-00000-of-00001: "w" fails its crc32c check/);
    const index = fs.readFileSync(`${prefix}.index`);
    index[3] ^= 0xff;
    fs.writeFileSync(`${prefix}.index`, index);
    expect(() => readBundleIndex(prefix)).toThrow(/bad\.index: block at 0 fails its crc32c check/);
  });
});

describe('SavedModel', () => {
  it('reads back the graph it wrote: same signature, weights restored from the bundle, same outputs', async () => {
    const cfg = getVitConfig('test-tiny');
    const graph = clipInferenceGraph(cfg, randomClipWeights(cfg));
    const dir = path.join(root, 'sm');
    const res = writeSavedModel(dir, graph);
    expect(res.variableCount).toBe(graph.weights.size);
    const loaded = readSavedModel(dir);
    expect(Object.keys(loaded.graph.outputs).sort()).toEqual(['embedding', 'embedding_norm']);
    expect(loaded.graph.inputs.image_tensor).toEqual({ name: 'image_tensor:0', dtype: 'uint8', shape: [-1, -1, -1, 3] });
    expect(loaded.checkpoint.map((c) => c.name)).toContain('visual.conv1.weight');
    const img = randomImage(50, 20, 4);
    const a = runTfjsGraph(await loadTfjsGraph(graph), graph, { data: img, shape: [1, 20, 50, 3] });
    const b = runTfjsGraph(await loadTfjsGraph(loaded.graph), loaded.graph, { data: img, shape: [1, 20, 50, 3] });
    expect(Array.from(b.embedding)).toEqual(Array.from(a.embedding));
    expect(() => readSavedModel(dir, 'predict')).toThrow(/no signature "predict" \(signatures: serving_default\)/);
  });

  it('rejects a variable whose checkpoint shape differs from the graph', () => {
    const g = new GraphBuilder();
    const x = g.placeholder('x', 'float32', [-1, 2]);
    const y = g.matMul(x, g.weight('w', f32([1, 2, 3, 4], [2, 2])));
    const dir = path.join(root, 'shape');
    writeSavedModel(dir, g.build({ x: { name: `${x}:0`, dtype: 'float32', shape: [-1, 2] } }, { y: { name: `${y}:0`, dtype: 'float32', shape: [-1, 2] } }));
    writeTensorBundle(path.join(dir, 'variables', 'variables'), [{ name: 'w', ...f32([1, 2, 3, 4, 5, 6], [3, 2]) }]);
    expect(() => readSavedModel(dir)).toThrow(/variable "w" has shape \[3,2\] but the graph declares \[2,2\]/);
  });
});

describe('ONNX', () => {
  it('onnxruntime-node runs the export with dynamic batch and image size, matching tfjs within 1e-4', async () => {
    const cfg = getVitConfig('test-small');
    const graph = clipInferenceGraph(cfg, randomClipWeights(cfg, 64, 3));
    const file = path.join(root, 'm.onnx');
    writeOnnx(file, graph);
    const session = await ort.InferenceSession.create(file);
    const model = await loadTfjsGraph(graph);
    for (const [n, h, w] of [[2, 33, 70], [1, 64, 64], [3, 7, 5]]) {
      const data = new Uint8Array(n * h * w * 3);
      for (let i = 0; i < n; i++) data.set(randomImage(w, h, 20 + i), i * h * w * 3);
      const out = await session.run({ image_tensor: new ort.Tensor('uint8', data, [n, h, w, 3]) });
      const ref = runTfjsGraph(model, graph, { data, shape: [n, h, w, 3] }).embedding;
      expect(out.embedding.dims).toEqual([n, 64]);
      const got = out.embedding.data as Float32Array;
      const err = got.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0);
      expect(err).toBeLessThan(1e-4);
    }
    await session.release();
  });

  it('puts weights in external data past the size limit and still loads', async () => {
    const cfg = getVitConfig('test-tiny');
    const graph = clipInferenceGraph(cfg, randomClipWeights(cfg));
    const file = path.join(root, 'ext', 'm.onnx');
    const res = writeOnnx(file, graph, { externalDataBytes: 1000 });
    expect(res.externalBytes).toBeGreaterThan(400_000);
    expect(fs.statSync(`${file}.data`).size).toBe(res.externalBytes);
    const session = await ort.InferenceSession.create(file);
    const out = await session.run({ image_tensor: new ort.Tensor('uint8', randomImage(9, 9, 1), [1, 9, 9, 3]) });
    expect(Math.hypot(...(out.embedding.data as Float32Array))).toBeCloseTo(1, 5);
    await session.release();
  });
});
