/**
 * Oracle: our tfjs CLIP image tower vs open-clip-torch's VisionTransformer and transformers'
 * CLIPVisionModel(WithProjection), same random weights (vit_oracle.py saves them to safetensors in
 * both layouts). Tolerance: max|ours − ref| / max|ref| < 1e-4 per output batch.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadVit } from '../../lib/model/weights';
import { getVitConfig, type VitConfig } from '../../lib/model/vit-config';
import { runPythonJson } from './python';

const SCRIPT = path.join(__dirname, 'vit_oracle.py');
const TOL = 1e-4;

interface Spec {
  width: number;
  layers: number;
  heads: number;
  patch: number;
  stride?: number;
  image: number;
  outputDim: number | null;
  act: 'gelu' | 'quick_gelu';
  batch?: number;
  dtypes?: boolean;
  resizeTo?: number;
  fullClip?: boolean;
}

function configFor(s: Spec, imageSize = s.image): VitConfig {
  return getVitConfig('test-tiny', {
    name: 'oracle', imageSize, patchSize: s.patch, patchStride: s.stride ?? s.patch, width: s.width,
    layers: s.layers, heads: s.heads, outputDim: s.outputDim, act: s.act,
  });
}

function readF32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function relErr(ours: Float32Array, ref: Float32Array): number {
  expect(ours.length).toBe(ref.length);
  let num = 0;
  let den = 0;
  ours.forEach((v, i) => {
    num = Math.max(num, Math.abs(v - ref[i]));
    den = Math.max(den, Math.abs(ref[i]));
  });
  return num / den;
}

/** Loads `file` for `cfg`, runs the batch in `inputFile`, returns rel. error vs `refFile`. */
function compare(dir: string, cfg: VitConfig, file: string, inputFile: string, refFile: string, batch: number, expectLayout: string): number {
  const { vit, layout } = loadVit(path.join(dir, file), cfg);
  expect(layout).toBe(expectLayout);
  const x = tf.tensor4d(readF32(path.join(dir, inputFile)), [batch, cfg.imageSize, cfg.imageSize, 3]);
  const y = vit.forward(x, false);
  const err = relErr(y.dataSync() as Float32Array, readF32(path.join(dir, refFile)));
  tf.dispose([x, y]);
  vit.dispose();
  return err;
}

function oracle(spec: Spec): { dir: string; res: { outDim: number; batch: number; hfVsOpenclipMaxAbs?: number } } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vit-oracle-'));
  return { dir, res: runPythonJson(SCRIPT, [JSON.stringify({ ...spec, outDir: dir })]) };
}

const errors: Record<string, number> = {};

beforeAll(async () => {
  await tf.setBackend('wasm');
});

afterAll(() => console.log('ViT oracle max relative errors:', JSON.stringify(errors, null, 1)));

describe('small config (gelu, projection), vs open_clip and transformers', () => {
  const spec: Spec = { width: 64, layers: 2, heads: 4, patch: 8, image: 32, outputDim: 32, act: 'gelu', batch: 3, dtypes: true, resizeTo: 48, fullClip: true };
  let dir = '';
  beforeAll(() => {
    dir = oracle(spec).dir;
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('OpenCLIP-layout file matches open_clip VisionTransformer', () => {
    const e = (errors['small/openclip'] = compare(dir, configFor(spec), 'openclip.safetensors', 'input.bin', 'openclip_out.bin', 3, 'openclip'));
    expect(e).toBeLessThan(TOL);
  });
  test('a whole open_clip CLIP file (image + text towers) loads its image tower; matches CLIP.encode_image', () => {
    const e = (errors['small/openclip-full-CLIP'] = compare(dir, configFor(spec), 'openclip_full.safetensors', 'input.bin', 'openclip_full_out.bin', 3, 'openclip'));
    expect(e).toBeLessThan(TOL);
  });
  test('Hugging Face-layout file (same weights) matches CLIPVisionModelWithProjection', () => {
    const e = (errors['small/hf'] = compare(dir, configFor(spec), 'hf/model.safetensors', 'input.bin', 'hf_out.bin', 3, 'hf'));
    expect(e).toBeLessThan(TOL);
  });
  test('fp16 and bf16 files load (converted to fp32) and match open_clip on the rounded weights', () => {
    for (const dt of ['f16', 'bf16']) {
      const e = (errors[`small/${dt}`] = compare(dir, configFor(spec), `openclip_${dt}.safetensors`, 'input.bin', `openclip_${dt}_out.bin`, 3, 'openclip'));
      expect(e).toBeLessThan(TOL);
    }
  });
  test('a larger image size resamples the positional embedding like open_clip resize_pos_embed (bicubic, antialias)', () => {
    const cfg = configFor(spec, 48);
    const e = (errors['small/resized-48px'] = compare(dir, cfg, 'openclip.safetensors', 'input_resized.bin', 'resized_out.bin', 3, 'openclip'));
    expect(e).toBeLessThan(TOL);
    const { vit, notes } = loadVit(path.join(dir, 'openclip.safetensors'), cfg);
    vit.dispose();
    expect(notes.join()).toMatch(/resampled from a 4x4 to a 6x6 grid/);
  });
});

test('quick_gelu, no projection, overlapping patches (stride < patch) vs open_clip', () => {
  const spec: Spec = { width: 48, layers: 2, heads: 3, patch: 8, stride: 6, image: 32, outputDim: null, act: 'quick_gelu', batch: 2 };
  const { dir, res } = oracle(spec);
  expect(res.outDim).toBe(48);
  const e = (errors['overlap-quickgelu/openclip'] = compare(dir, configFor(spec), 'openclip.safetensors', 'input.bin', 'openclip_out.bin', 2, 'openclip'));
  fs.rmSync(dir, { recursive: true, force: true });
  expect(e).toBeLessThan(TOL);
});

test('quick_gelu, no projection: CLIPVisionModel (pooler_output, unprefixed names) and open_clip files agree with ours', () => {
  const spec: Spec = { width: 32, layers: 1, heads: 2, patch: 16, image: 48, outputDim: null, act: 'quick_gelu', batch: 2 };
  const { dir } = oracle(spec);
  errors['noproj-quickgelu/openclip'] = compare(dir, configFor(spec), 'openclip.safetensors', 'input.bin', 'openclip_out.bin', 2, 'openclip');
  // transformers 5 saves CLIPVisionModel without the `vision_model.` prefix
  errors['noproj-quickgelu/hf'] = compare(dir, configFor(spec), 'hf/model.safetensors', 'input.bin', 'hf_out.bin', 2, 'hf-vision');
  fs.rmSync(dir, { recursive: true, force: true });
  expect(errors['noproj-quickgelu/openclip']).toBeLessThan(TOL);
  expect(errors['noproj-quickgelu/hf']).toBeLessThan(TOL);
});

test('ViT-B/32-sized tower (768 wide, 12 blocks, 224 px) matches open_clip and transformers on wasm', () => {
  const spec: Spec = { width: 768, layers: 12, heads: 12, patch: 32, image: 224, outputDim: 512, act: 'gelu', batch: 2 };
  const { dir, res } = oracle(spec);
  // Same config as the named one: only the weights are random.
  const cfg = getVitConfig('ViT-B-32');
  expect(configFor(spec)).toMatchObject({ width: cfg.width, layers: cfg.layers, heads: cfg.heads, patchSize: cfg.patchSize, imageSize: cfg.imageSize, outputDim: cfg.outputDim, act: cfg.act });
  const t0 = Date.now();
  errors['B32/openclip'] = compare(dir, cfg, 'openclip.safetensors', 'input.bin', 'openclip_out.bin', 2, 'openclip');
  const t1 = Date.now();
  errors['B32/hf'] = compare(dir, cfg, 'hf/model.safetensors', 'input.bin', 'hf_out.bin', 2, 'hf');
  console.log(`ViT-B/32 load+forward (batch 2, wasm): openclip ${(t1 - t0) / 1000}s, hf ${(Date.now() - t1) / 1000}s; torch hf vs open_clip max abs ${res.hfVsOpenclipMaxAbs}`);
  fs.rmSync(dir, { recursive: true, force: true });
  expect(errors['B32/openclip']).toBeLessThan(TOL);
  expect(errors['B32/hf']).toBeLessThan(TOL);
}, 300_000);
