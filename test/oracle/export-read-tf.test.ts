/**
 * Oracle: a SavedModel written by TensorFlow itself (tensorflow-cpu from PyPI, TF1 Saver V2 format)
 * read by our reader: every checkpoint entry (300 variables with shared key prefixes, several
 * SSTable blocks) and the signature's output run through the graph read back. Tolerance 1e-5.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readTensorBundle } from '../../lib/export/tensor-bundle';
import { readSavedModel } from '../../lib/export/savedmodel';
import { loadTfjsGraph, runTfjsGraph } from '../../lib/export/tfjs-graph';
import { runPythonJson } from './python';

it('reads a TensorFlow-written SavedModel: checkpoint values and signature output', async () => {
  await tf.setBackend('cpu');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-read-tf-'));
  try {
    const dir = path.join(root, 'sm');
    const py = runPythonJson<{ variables: Record<string, number[]>; count: number; embedding: number[][] }>(path.join(__dirname, 'export_tf_checkpoint.py'), [dir]);
    const bundle = readTensorBundle(path.join(dir, 'variables', 'variables'));
    expect(bundle.size).toBe(py.count);
    for (const [name, values] of Object.entries(py.variables)) {
      expect(bundle.get(name)!.shape).toEqual([3, 4]);
      expect(Array.from(bundle.get(name)!.data)).toEqual(values.map((v) => Math.fround(v)));
    }
    const { graph } = readSavedModel(dir);
    const batch = Uint8Array.from({ length: 2 * 5 * 7 * 3 }, (_, i) => i % 251);
    const got = runTfjsGraph(await loadTfjsGraph(graph), graph, { data: batch, shape: [2, 5, 7, 3] }).embedding;
    const err = py.embedding.flat().reduce((m, v, i) => Math.max(m, Math.abs(v - got[i])), 0);
    console.log(`TF-written SavedModel through our reader: max abs ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-5);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}, 120_000);
