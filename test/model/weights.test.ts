/** Weight loading: safetensors decoding, our save/load round trip, and one test per loading error. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SafetensorsFile, writeSafetensors } from '../../lib/model/safetensors';
import { Vit } from '../../lib/model/vit';
import { vitParamShapes } from '../../lib/model/vit-layout';
import { getVitConfig } from '../../lib/model/vit-config';
import { loadVit, loadVitWeights, saveVit } from '../../lib/model/weights';

const cfg = getVitConfig('test-tiny');
let dir = '';
let good = '';

/** A raw safetensors file with arbitrary header entries (bytes given per tensor). */
function rawFile(file: string, entries: Array<{ name: string; dtype: string; shape: number[]; bytes: Uint8Array }>): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.bytes.length] };
    off += e.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, ...entries.map((e) => Buffer.from(e.bytes))]));
}

/** Copies the good checkpoint with tensors renamed / reshaped / dropped / added. */
function variant(name: string, edit: (entries: Array<[string, number[], Float32Array]>) => Array<[string, number[], Float32Array]>): string {
  const st = SafetensorsFile.open(good);
  const entries = edit(st.keys().map((k): [string, number[], Float32Array] => {
    const { shape, data } = st.read(k);
    return [k, shape, data];
  }));
  st.close();
  const file = path.join(dir, name);
  const byName = new Map(entries.map(([k, , d]) => [k, d]));
  writeSafetensors(file, entries.map(([k, s]) => [k, s]), (k) => byName.get(k)!);
  return file;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vit-weights-'));
  good = path.join(dir, 'good.safetensors');
  const vit = Vit.random(cfg, 1);
  saveVit(vit, good, 'openclip');
  vit.dispose();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('safetensors', () => {
  test('F16 and BF16 decode exactly to float32 (normals, subnormal, max, inf, negative zero)', () => {
    const file = path.join(dir, 'dtypes.safetensors');
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00, 0x8000]);
    const bfVals = new Float32Array([1.5, -3.25, 1e30, 2 ** -100]);
    const bf16 = new Uint16Array(Array.from(new Uint32Array(bfVals.buffer), (b) => b >>> 16));
    rawFile(file, [
      { name: 'h', dtype: 'F16', shape: [7], bytes: new Uint8Array(f16.buffer) },
      { name: 'b', dtype: 'BF16', shape: [2, 2], bytes: new Uint8Array(bf16.buffer) },
    ]);
    const st = SafetensorsFile.open(file);
    expect(Array.from(st.read('h').data)).toEqual([1, -2, 0.5, 65504, 2 ** -24, Infinity, -0]);
    const b = st.read('b');
    expect(b.shape).toEqual([2, 2]);
    // bf16 keeps the top 16 bits: exact for these values except 1e30, which truncates
    expect(Array.from(b.data)).toEqual([1.5, -3.25, new Float32Array(new Uint32Array([new Uint32Array(bfVals.buffer)[2] & 0xffff0000]).buffer)[0], 2 ** -100]);
    st.close();
  });

  test('save -> load round trip (openclip and bare layouts) reproduces the forward pass exactly', () => {
    const vit = Vit.random(cfg, 3);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const want = vit.forward(x).dataSync();
    for (const layout of ['openclip', 'bare'] as const) {
      const file = path.join(dir, `rt-${layout}.safetensors`);
      saveVit(vit, file, layout);
      const loaded = loadVit(file, cfg);
      expect(loaded.layout).toBe(layout);
      expect(Array.from(loaded.vit.forward(x).dataSync())).toEqual(Array.from(want));
      loaded.vit.dispose();
    }
    vit.dispose();
    x.dispose();
  });
});

describe('loading errors name the file, the key and expected vs found', () => {
  test('missing file', () => {
    expect(() => loadVitWeights(path.join(dir, 'nope.safetensors'), cfg)).toThrow(/nope\.safetensors: no such safetensors file/);
  });

  test('truncated file (interrupted download)', () => {
    const file = path.join(dir, 'trunc.safetensors');
    const buf = fs.readFileSync(good);
    fs.writeFileSync(file, buf.subarray(0, buf.length - 100));
    expect(() => loadVitWeights(file, cfg)).toThrow(/trunc\.safetensors: not a valid safetensors file: tensor "visual\.proj" ends at byte \d+, beyond the file's \d+ bytes \(truncated download\?\)/);
  });

  test('header that is not JSON / does not fit', () => {
    const file = path.join(dir, 'junk.safetensors');
    fs.writeFileSync(file, Buffer.concat([Buffer.from([10, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{not json}')]));
    expect(() => loadVitWeights(file, cfg)).toThrow(/junk\.safetensors: not a valid safetensors file: header is not JSON/);
    fs.writeFileSync(file, Buffer.from('PK\x03\x04 this is a zip'));
    expect(() => loadVitWeights(file, cfg)).toThrow(/junk\.safetensors: not a valid safetensors file: header length \d+ does not fit/);
  });

  test('unsupported dtype', () => {
    const file = path.join(dir, 'int.safetensors');
    rawFile(file, [{ name: 'visual.conv1.weight', dtype: 'I64', shape: [1], bytes: new Uint8Array(8) }]);
    expect(() => loadVitWeights(file, cfg)).toThrow(/int\.safetensors: .*tensor "visual\.conv1\.weight" has dtype I64; supported: F32, F16, BF16, F64/);
  });

  test('wrong architecture: not a CLIP ViT tower at all', () => {
    const file = variant('convnext.safetensors', (e) => e.map(([k, s, d]) => [k.replace('visual.', 'visual.trunk.'), s, d]));
    expect(() => loadVitWeights(file, cfg)).toThrow(/convnext\.safetensors: no CLIP ViT image tower found \(wrong architecture\?\).*e\.g\. visual\.trunk\./);
  });

  test('wrong architecture: a different number of blocks', () => {
    expect(() => loadVitWeights(good, getVitConfig('test-tiny', { layers: 3 }))).toThrow(/good\.safetensors: wrong architecture: the file's image tower has 2 transformer blocks, config test-tiny has 3/);
  });

  test('wrong architecture: unexpected tower keys', () => {
    const file = variant('extra.safetensors', (e) => [...e, ['visual.attn_pool.query', [4, 64], new Float32Array(256)]]);
    expect(() => loadVitWeights(file, cfg)).toThrow(/extra\.safetensors: wrong architecture for test-tiny: unexpected image-tower keys visual\.attn_pool\.query/);
  });

  test('missing key', () => {
    const file = variant('missing.safetensors', (e) => e.filter(([k]) => k !== 'visual.transformer.resblocks.1.mlp.c_fc.bias'));
    expect(() => loadVitWeights(file, cfg)).toThrow(/missing\.safetensors: missing key "visual\.transformer\.resblocks\.1\.mlp\.c_fc\.bias" \(openclip layout\) for parameter transformer\.resblocks\.1\.mlp\.c_fc\.bias \[256\] of test-tiny/);
  });

  test('unexpected shape (a wider model than the config)', () => {
    expect(() => loadVitWeights(good, getVitConfig('test-tiny', { width: 96 }))).toThrow(/good\.safetensors: key "visual\.class_embedding" has shape \[64\], expected \[96\] for test-tiny/);
  });

  test('positional embedding of another grid: resampled by default, an error when resizing is off or the grid is not square', () => {
    const big = getVitConfig('test-tiny', { imageSize: 48 });
    const { weights, notes } = loadVitWeights(good, big);
    expect(weights.get('positional_embedding')!.shape).toEqual([37, 64]);
    weights.forEach((t) => t.dispose());
    expect(notes).toEqual(['positional_embedding resampled from a 4x4 to a 6x6 grid (bicubic, antialiased)']);
    expect(() => loadVitWeights(good, big, { resizePosEmbed: false })).toThrow(/key "visual\.positional_embedding" has shape \[17, 64\], expected \[37, 64\]/);
    const odd = variant('odd-grid.safetensors', (e) => e.map(([k, s, d]) => (k === 'visual.positional_embedding' ? [k, [16, 64], d.subarray(0, 16 * 64)] : [k, s, d])));
    expect(() => loadVitWeights(odd, cfg)).toThrow(/odd-grid\.safetensors: key "visual\.positional_embedding" has shape \[16, 64\], expected \[17, 64\]/);
  });

  test('a config without projection drops the file\'s projection with a note; one with projection needs it', () => {
    const noProj = getVitConfig('test-tiny', { outputDim: null });
    const { weights, notes } = loadVitWeights(good, noProj);
    expect(weights.has('proj')).toBe(false);
    expect(weights.size).toBe(vitParamShapes(noProj).length);
    weights.forEach((t) => t.dispose());
    expect(notes).toEqual(['output projection visual.proj not used (config test-tiny has outputDim null)']);
    const file = variant('noproj.safetensors', (e) => e.filter(([k]) => k !== 'visual.proj'));
    expect(() => loadVitWeights(file, cfg)).toThrow(/noproj\.safetensors: missing key "visual\.proj"/);
  });
});
