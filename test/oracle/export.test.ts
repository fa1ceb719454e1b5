/**
 * Oracle: our SavedModel run by real TensorFlow against our ONNX export in onnxruntime, an
 * independent PyTorch reference (open_clip's VisionTransformer with the same weights, on Pillow's
 * preprocessing of the same raw images) and the tfjs run of the same graph. Tolerance 1e-4 max abs
 * on unit-norm 64-d embeddings; 1e-3 for tfjs, which runs the graph's float64 resampling in float32
 * (a pixel one 8-bit level off now and then: up to ~1e-4 on these noise images).
 *   - tf.saved_model.load(<our submission.zip unpacked>).signatures['serving_default'](tf.constant(uint8 batch)) (tensorflow-cpu from PyPI)
 *   - onnx.checker.check_model(full_check) + onnxruntime (Python) + onnxruntime-node
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { getVitConfig } from '../../lib/model/vit-config';
import { clipInferenceGraph } from '../../lib/export/inference-graph';
import { writeSavedModel } from '../../lib/export/savedmodel';
import { writeOnnx } from '../../lib/export/onnx';
import { writeSubmissionZip } from '../../lib/export/submission';
import { loadTfjsGraph, runTfjsGraph } from '../../lib/export/tfjs-graph';
import { OnnxEmbedder } from '../../lib/export/onnx-embedder';
import { randomClipWeights, randomImage } from '../../lib/export/random-weights';
import { runPythonJson } from './python';

const TOL = 1e-4;
const TFJS_TOL = 1e-3;
type Out = { checker: string; tf_version: string; batches: Record<string, { tf: number[][]; tf_norm: number[][]; ort: number[][]; torch: number[][] }> };

const BATCHES: Record<string, { shape: [number, number, number, number]; gray?: boolean }> = {
  batch2_30x40: { shape: [2, 30, 40, 3] },
  exact_32: { shape: [1, 32, 32, 3] },
  tall_97x64: { shape: [1, 97, 64, 3] },
  tiny_5x9_gray: { shape: [3, 5, 9, 3], gray: true },
};

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('export oracle: SavedModel (TensorFlow) vs ONNX (onnxruntime), open_clip and tfjs', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-export-oracle-'));
  // test-tiny: exact GELU; test-small: QuickGELU (both squashed with Pillow's BILINEAR); test-tiny-bicubic: CLIP's bicubic shorter side + centre crop
  const models = ['test-tiny', 'test-small', 'test-tiny-bicubic'];
  const batchData: Record<string, Uint8Array> = {};
  const tfjsOut: Record<string, Record<string, Float32Array>> = {};
  const ortNode: Record<string, Record<string, Float32Array>> = {};
  let py: Record<string, Out>;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    const bdir = path.join(root, 'batches');
    fs.mkdirSync(bdir);
    let seed = 10;
    for (const [name, b] of Object.entries(BATCHES)) {
      const [n, h, w] = b.shape;
      const data = new Uint8Array(n * h * w * 3);
      for (let i = 0; i < n; i++) data.set(randomImage(w, h, seed++, b.gray), i * h * w * 3);
      batchData[name] = data;
      fs.writeFileSync(path.join(bdir, `${name}.bin`), data);
    }
    fs.writeFileSync(path.join(bdir, 'batches.json'), JSON.stringify(Object.fromEntries(Object.entries(BATCHES).map(([k, v]) => [k, v.shape]))));
    for (const name of models) {
      const bicubic = name.endsWith('-bicubic');
      const base = getVitConfig(name.replace('-bicubic', ''));
      const cfg = { ...base, preprocess: { ...base.preprocess, resize: bicubic ? ('shortest_bicubic_crop' as const) : ('bilinear' as const) } };
      const weights = randomClipWeights(cfg, 64, name.length);
      const dir = path.join(root, name);
      const graph = clipInferenceGraph(cfg, weights, { preprocess: cfg.preprocess });
      writeSavedModel(path.join(dir, 'saved_model'), graph);
      await writeSubmissionZip(path.join(dir, 'saved_model'), path.join(dir, 'submission.zip'));
      writeOnnx(path.join(dir, 'model.onnx'), graph);
      // weights + config for the PyTorch reference
      const manifest: Record<string, [number[], number]> = {};
      const parts: Buffer[] = [];
      let off = 0;
      for (const [k, t] of weights) {
        manifest[k] = [t.shape, off];
        parts.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        off += t.data.length;
      }
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(parts));
      fs.writeFileSync(path.join(dir, 'weights.json'), JSON.stringify(manifest));
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
      const model = await loadTfjsGraph(graph);
      tfjsOut[name] = {};
      ortNode[name] = {};
      const emb = await OnnxEmbedder.create(path.join(dir, 'model.onnx'), cfg.preprocess);
      for (const [bn, b] of Object.entries(BATCHES)) {
        tfjsOut[name][bn] = runTfjsGraph(model, graph, { data: batchData[bn], shape: b.shape }).embedding;
        const [n, h, w] = b.shape;
        const images = Array.from({ length: n }, (_, i) => ({ data: batchData[bn].subarray(i * h * w * 3, (i + 1) * h * w * 3), width: w, height: h }));
        ortNode[name][bn] = await emb.embed(images);
      }
      emb.dispose();
      model.dispose();
    }
    py = runPythonJson<Record<string, Out>>(path.join(__dirname, 'export_oracle.py'), [root, models.join(','), bdir]);
  }, 300_000);

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const name of models) {
    describe(name, () => {
      it('ONNX passes onnx.checker (full check)', () => {
        expect(py[name].checker).toBe('ok');
      });
      for (const bn of Object.keys(BATCHES)) {
        it(`${bn}: onnxruntime (py, node) and open_clip agree with the TF SavedModel within ${TOL}, tfjs within ${TFJS_TOL}`, () => {
          const r = py[name].batches[bn];
          const ref = r.tf.flat();
          const errs: Record<string, number> = {
            tf_norm: maxAbs(r.tf_norm.flat(), ref),
            ort_python: maxAbs(r.ort.flat(), ref),
            ort_node: maxAbs(ortNode[name][bn], ref),
            open_clip: maxAbs(r.torch.flat(), ref),
          };
          const tfjs = maxAbs(tfjsOut[name][bn], ref);
          console.log(`${name} ${bn} max abs errors vs TF: ${JSON.stringify({ ...errs, tfjs })}`);
          for (const e of Object.values(errs)) expect(e).toBeLessThan(TOL);
          expect(tfjs).toBeLessThan(TFJS_TOL);
          // unit norm, 64 wide
          const dim = r.tf[0].length;
          expect(dim).toBe(64);
          for (const row of r.tf) expect(Math.abs(Math.hypot(...row) - 1)).toBeLessThan(1e-5);
        });
      }
    });
  }
});
