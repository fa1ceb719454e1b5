/**
 * Backbone registry and the offline packaged CNNs, on real files and the real tfjs backend:
 * names, the cache (built once per machine in os.tmpdir()), truncation numerics against the
 * untouched package model, and retrieval sanity on real photos.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../lib/device';
import { backboneInfo, listBackbones, loadBackbone, type Backbone } from '../../lib/model/backbones';
import { POOL_NODE } from '../../lib/model/cnn/keras-to-graphdef';
import { packageArtifacts } from '../../lib/model/cnn/nsfwjs-package';
import { PACKAGED_CNNS } from '../../lib/model/cnn/registry';
import { saveVit } from '../../lib/model/weights';
import { cosine, sharedCacheDir, toBatch, twoViews } from './helpers';

const cacheDir = sharedCacheDir();
let views: [Uint8Array[], Uint8Array[]];

beforeAll(async () => {
  await initBackend();
  views = await twoViews(6);
});

describe('registry', () => {
  test('lists the offline CNNs and the CLIP configs, with their preprocessing', () => {
    const names = listBackbones().map((b) => b.name);
    expect(names).toEqual(expect.arrayContaining(['mobilenet_v2_140', 'inception_v3_mixed5', 'ViT-B-32', 'ViT-H-14']));
    expect(names).not.toContain('test-tiny');
    expect(backboneInfo('mobilenet_v2_140')).toMatchObject({ kind: 'packaged-cnn', featureDim: 1792, preprocess: { imageSize: 224 } });
    expect(backboneInfo('inception_v3_mixed5')).toMatchObject({ kind: 'packaged-cnn', featureDim: 768, preprocess: { imageSize: 299 } });
    expect(backboneInfo('ViT-H-14')).toMatchObject({ kind: 'clip-vit', featureDim: 1024, preprocess: { imageSize: 224, resize: 'shortest_bicubic_crop' } });
  });

  test('an unknown name is rejected with the known names', async () => {
    await expect(loadBackbone('resnet9000', { cacheDir })).rejects.toThrow(/unknown backbone "resnet9000" \(known: inception_v3_mixed5, mobilenet_v2_140, mobilenet_v2_140_gem, ViT-B-16, ViT-B-16-quickgelu, ViT-B-32/);
  });

  test('a CLIP ViT without weights says how to give them', async () => {
    await expect(loadBackbone('ViT-B-32')).rejects.toThrow(/CLIP ViT and needs weights: none at .*ViT-B-32\.safetensors \(paths\.weights\)\. Get them with `guie download-weights --model ViT-B-32`/);
  });

  test('a CLIP ViT loads its weights from a safetensors file and computes what the saved tower computes', async () => {
    const original = await loadBackbone('test-tiny', { randomSeed: 3 });
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'guie-vit-')), 'tower.safetensors');
    saveVit(original.vit!, file);
    const loaded = await loadBackbone('test-tiny', { weightsFile: file });
    try {
      const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
      const [a, b] = [original.features(x), loaded.features(x)];
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])).toBe(0);
      tf.dispose([x, a, b]);
    } finally {
      original.dispose();
      loaded.dispose();
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  test('a CLIP ViT with random weights runs at its config width', async () => {
    const b = await loadBackbone('test-tiny', { randomSeed: 1 });
    try {
      const x = tf.randomUniform([2, 32, 32, 3]) as tf.Tensor4D;
      const f = b.features(x);
      expect(f.shape).toEqual([2, 32]);
      expect(b.cnn).toBeNull();
      expect(b.vit).not.toBeNull();
      tf.dispose([x, f]);
    } finally {
      b.dispose();
    }
  });
});

describe.each(['mobilenet_v2_140', 'inception_v3_mixed5'])('%s', (name) => {
  let backbone: Backbone;
  beforeAll(async () => {
    backbone = await loadBackbone(name, { cacheDir, log: () => undefined });
  });
  afterAll(() => backbone?.dispose());

  test('features have the registered width, are finite and differ between images', async () => {
    const x = await toBatch(views[0].slice(0, 3), backbone.preprocess);
    const f = backbone.features(x);
    expect(f.shape).toEqual([3, PACKAGED_CNNS[name].featureDim]);
    const v = await f.array();
    expect(v.flat().every(Number.isFinite)).toBe(true);
    expect(Math.max(...v[0].map((a, i) => Math.abs(a - v[1][i])))).toBeGreaterThan(1e-3);
    tf.dispose([x, f]);
  });

  test('two views of one photo are nearer than views of different photos', async () => {
    const [xa, xb] = await Promise.all([toBatch(views[0], backbone.preprocess), toBatch(views[1], backbone.preprocess)]);
    const [fa, fb] = [backbone.features(xa), backbone.features(xb)];
    const sim = cosine(fa, fb);
    const n = sim.length;
    const same = sim.map((row, i) => row[i]);
    const bestOther = sim.map((row, i) => Math.max(...row.filter((_, j) => j !== i)));
    // Every view's nearest among the other views is its own photo's.
    for (let i = 0; i < n; i++) expect(same[i]).toBeGreaterThan(bestOther[i]);
    const meanSame = same.reduce((a, b) => a + b, 0) / n;
    const meanOther = sim.flat().filter((_, k) => k % (n + 1) !== 0).reduce((a, b) => a + b, 0) / (n * n - n);
    expect(meanSame - meanOther).toBeGreaterThan(0.1);
    tf.dispose([xa, xb, fa, fb]);
  });

  test('the cached, truncated float32 model computes what the package model computes at the feature node', async () => {
    const spec = PACKAGED_CNNS[name];
    const art = packageArtifacts(spec);
    const x = await toBatch(views[0].slice(0, 2), backbone.preprocess);
    let reference: tf.Tensor2D;
    if (spec.packageFormat === 'graph-model') {
      const full = await tf.loadGraphModel(tf.io.fromMemory(art));
      reference = full.execute(x, spec.featureNode) as tf.Tensor2D;
      full.dispose();
    } else {
      const full = await tf.loadLayersModel(tf.io.fromMemory(art));
      const mid = tf.model({ inputs: full.inputs, outputs: full.getLayer(spec.featureNode).output as tf.SymbolicTensor });
      reference = tf.tidy(() => tf.mean(mid.predict(x) as tf.Tensor4D, [1, 2]) as tf.Tensor2D);
      full.dispose();
    }
    const ours = backbone.features(x);
    const maxErr = tf.tidy(() => tf.max(tf.abs(tf.sub(ours, reference))).dataSync()[0]);
    const scale = tf.tidy(() => tf.max(tf.abs(reference)).dataSync()[0]);
    // Graph: same weights, dequantised once instead of at load -> float32 round-off only.
    // Keras: BatchNormalization folded into the convolutions -> float32 reassociation over 5 inception blocks.
    expect(maxErr / scale).toBeLessThan(spec.packageFormat === 'graph-model' ? 1e-6 : 1e-4);
    tf.dispose([x, reference, ours]);
  });

  test('model.json is a standard tfjs graph model of plain TF ops, holding only the ImageNet part, with the named feature output', () => {
    expect(backbone.cnn!.cache.modelJsonPath).toBe(`${cacheDir}/${name}/model.json`);
    const json = JSON.parse(fs.readFileSync(backbone.cnn!.cache.modelJsonPath, 'utf8')) as tf.io.ModelJSON;
    expect(json.format).toBe('graph-model');
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(json.weightsManifest[0].weights.every((w) => (w.dtype === 'float32' || w.dtype === 'int32') && !w.quantization)).toBe(true);
    const nodes = (json.modelTopology as { node: Array<{ name: string; op: string }> }).node;
    expect(backbone.cnn!.cache.meta.inputNode).toBe('input');
    expect(nodes.filter((n) => n.op === 'Placeholder').map((n) => n.name)).toEqual(['input']);
    // Nothing downstream of the feature survives (nsfwjs' dense head, softmax), and the output is the only sink.
    const used = new Set(nodes.flatMap((n) => (n as { input?: string[] }).input ?? []).map((i) => i.replace(/:\d+$/, '')));
    expect(nodes.filter((n) => !used.has(n.name)).map((n) => n.name)).toEqual([backbone.cnn!.cache.meta.outputNode]);
    expect(nodes.some((n) => n.op === 'Softmax' || n.op === '_FusedMatMul' || /dense/.test(n.name))).toBe(false);
    if (PACKAGED_CNNS[name].packageFormat === 'graph-model') {
      expect(nodes.find((n) => n.name === backbone.cnn!.cache.meta.outputNode)?.op).toBe('Squeeze');
    } else {
      expect(backbone.cnn!.cache.meta.outputNode).toBe(POOL_NODE);
      const ops = new Set(nodes.map((n) => n.op));
      expect([...ops].sort()).toEqual(['AvgPool', 'BiasAdd', 'ConcatV2', 'Const', 'Conv2D', 'MaxPool', 'Mean', 'Placeholder', 'Relu']);
      expect(nodes.some((n) => n.name === 'mixed5/concat')).toBe(true);
      expect(nodes.some((n) => n.name.startsWith('mixed6'))).toBe(false);
    }
  });
});

describe('mobilenet_v2_140_gem', () => {
  test('its features are GeM (p = 3) of the package model last 7x7x1792 map, computed here in float64', async () => {
    const gem = await loadBackbone('mobilenet_v2_140_gem', { cacheDir, log: () => undefined });
    const spec = PACKAGED_CNNS.mobilenet_v2_140_gem;
    const full = await tf.loadGraphModel(tf.io.fromMemory(packageArtifacts(spec)));
    const x = await toBatch(views[0].slice(0, 2), gem.preprocess);
    try {
      const map = full.execute(x, spec.gem!.mapNode) as tf.Tensor4D;
      expect(map.shape).toEqual([2, 7, 7, 1792]);
      const m = map.dataSync();
      const want = new Float64Array(2 * 1792);
      for (let b = 0; b < 2; b++) {
        for (let c = 0; c < 1792; c++) {
          let s = 0;
          for (let k = 0; k < 49; k++) s += Math.max(m[(b * 49 + k) * 1792 + c], 1e-6) ** 3;
          want[b * 1792 + c] = (s / 49) ** (1 / 3);
        }
      }
      const ours = gem.features(x);
      expect(ours.shape).toEqual([2, 1792]);
      const got = ours.dataSync();
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]) / Math.max(1e-3, Math.abs(want[i])));
      expect(err).toBeLessThan(1e-4); // float32 pow/mean against float64
      // not the average pooling: GeM weighs the strongest activations up
      const avg = (await loadBackbone('mobilenet_v2_140', { cacheDir, log: () => undefined }));
      const a = avg.features(x);
      expect(tf.tidy(() => tf.max(tf.sub(ours, a)).dataSync()[0])).toBeGreaterThan(0.05);
      expect(tf.tidy(() => tf.min(tf.sub(ours, a)).dataSync()[0])).toBeGreaterThanOrEqual(-1e-5); // power mean >= arithmetic mean
      tf.dispose([map, ours, a]);
      avg.dispose();
      const nodes = (gem.cnn!.cache.json.modelTopology as { node: Array<{ op: string }> }).node;
      expect(nodes.filter((n) => n.op === 'Pow')).toHaveLength(2);
      expect(nodes.some((n) => n.op === 'AvgPool')).toBe(false);
    } finally {
      tf.dispose(x);
      full.dispose();
      gem.dispose();
    }
  });
});
