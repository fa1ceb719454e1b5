import sharp from 'sharp';
import { centerCropBox, decodeRgb, DEFAULT_MAX_PIXELS, ImageDecodeError, normalizeRgb, resizeForModel, shorterSideSize } from '../../lib/data/image';
import { CLIP_MEAN, CLIP_STD } from '../../lib/model/vit-config';
import type { Preprocess } from '../../lib/core/preprocess';
import { jpeg, png } from './helpers';

const solid = (channels: 3 | 4, background: { r: number; g: number; b: number; alpha?: number }, width = 8, height = 6) => sharp({ create: { width, height, channels, background } });
const pixel = (img: { data: Uint8Array }, i = 0) => Array.from(img.data.subarray(i * 3, i * 3 + 3));

describe('decodeRgb: any input becomes 8-bit RGB', () => {
  test('PNG with alpha is composited on white', async () => {
    const bytes = await solid(4, { r: 0, g: 0, b: 255, alpha: 0.5 }).png().toBuffer();
    const img = await decodeRgb(bytes);
    expect([img.width, img.height, img.data.length]).toEqual([8, 6, 8 * 6 * 3]);
    for (const c of pixel(img).slice(0, 2)) expect(Math.abs(c - 127)).toBeLessThanOrEqual(1);
    expect(pixel(img)[2]).toBe(255);
  });

  test('CMYK JPEG becomes RGB close to the original colour', async () => {
    const bytes = await solid(3, { r: 200, g: 50, b: 10 }).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    expect((await sharp(bytes).metadata()).space).toBe('cmyk');
    const img = await decodeRgb(bytes);
    expect(img.data.length).toBe(8 * 6 * 3);
    // Through CMYK and two ICC conversions: within a few percent, not exact.
    pixel(img).forEach((c, i) => expect(Math.abs(c - [200, 50, 10][i])).toBeLessThanOrEqual(12));
  });

  test('16-bit PNG becomes 8-bit with the same colour', async () => {
    const bytes = await solid(3, { r: 200, g: 50, b: 10 }).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(bytes).metadata()).depth).toBe('ushort');
    const img = await decodeRgb(bytes);
    expect(img.data.length).toBe(8 * 6 * 3);
    expect(pixel(img, 5)).toEqual([200, 50, 10]);
  });

  test('1-channel grayscale and gray+alpha are expanded to 3 equal channels', async () => {
    const gray = await solid(3, { r: 90, g: 90, b: 90 }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(gray).metadata()).channels).toBe(1);
    expect(pixel(await decodeRgb(gray))).toEqual([90, 90, 90]);
    const ga = await solid(4, { r: 0, g: 0, b: 0, alpha: 1 }).toColourspace('b-w').png().toBuffer();
    expect(pixel(await decodeRgb(ga))).toEqual([0, 0, 0]);
  });

  test('zero-byte, non-image and over-limit inputs fail with a named ImageDecodeError', async () => {
    await expect(decodeRgb(new Uint8Array(0), { name: 'rec-7' })).rejects.toThrow('rec-7: cannot decode image: zero-byte input');
    const notImage = decodeRgb(Buffer.from('just some text, not an image'), { name: 'notes.txt' });
    await expect(notImage).rejects.toBeInstanceOf(ImageDecodeError);
    await expect(decodeRgb(Buffer.from('just some text'), { name: 'notes.txt' })).rejects.toThrow(/^notes.txt: cannot decode image: .*unsupported image format/);
    const big = await jpeg(200, 100);
    await expect(decodeRgb(big, { maxPixels: 10_000, name: 'bomb.jpg' })).rejects.toThrow(/^bomb.jpg: cannot decode image: .*pixel limit/);
    expect((await decodeRgb(big, { maxPixels: 20_000 })).width).toBe(200);
    expect(DEFAULT_MAX_PIXELS).toBe(89_478_485);
  });

  test('truncated JPEG is reported, not silently half-decoded', async () => {
    const bytes = await jpeg(64, 64);
    await expect(decodeRgb(bytes.subarray(0, bytes.length / 2), { name: 'cut.jpg' })).rejects.toThrow(/^cut.jpg: cannot decode image/);
  });
});

describe('model preprocessing geometry (torchvision Resize + CenterCrop arithmetic)', () => {
  test('shorter side to size, longer side truncated; centre crop rounds half to even', () => {
    expect(shorterSideSize(300, 200, 224)).toEqual({ width: 336, height: 224 });
    expect(shorterSideSize(100, 333, 224)).toEqual({ width: 224, height: 745 });
    expect(centerCropBox(336, 224, 224)).toEqual({ left: 56, top: 0, width: 224, height: 224 });
    // (225 - 224) / 2 = 0.5 -> Python round() gives 0; (227-224)/2 = 1.5 -> 2.
    expect(centerCropBox(225, 227, 224)).toEqual({ left: 0, top: 2, width: 224, height: 224 });
  });

  test('CLIP and bilinear modes give imageSize^2 RGB; normalisation uses mean/std', async () => {
    const p: Preprocess = { imageSize: 32, mean: CLIP_MEAN, std: CLIP_STD, resize: 'shortest_bicubic_crop' };
    const img = await resizeForModel(await png(90, 60), p);
    expect([img.width, img.height, img.data.length]).toEqual([32, 32, 32 * 32 * 3]);
    const sq = await resizeForModel(await png(90, 60), { ...p, resize: 'bilinear' });
    expect([sq.width, sq.height]).toEqual([32, 32]);
    const x = normalizeRgb({ data: new Uint8Array([255, 0, 128]), width: 1, height: 1 }, p);
    expect(x[0]).toBeCloseTo((1 - CLIP_MEAN[0]) / CLIP_STD[0], 5);
    expect(x[1]).toBeCloseTo(-CLIP_MEAN[1] / CLIP_STD[1], 5);
    expect(x[2]).toBeCloseTo((128 / 255 - CLIP_MEAN[2]) / CLIP_STD[2], 5);
  });
});

describe('vector inputs are refused before any renderer sees them', () => {
  // 195 bytes that declare 6000x6000 (under the pixel limit) with a heavy blur: ~2 minutes and 1.2 GB to render
  const bomb = '<svg xmlns="http://www.w3.org/2000/svg" width="6000" height="6000"><filter id="f"><feGaussianBlur stdDeviation="400"/></filter><rect width="6000" height="6000" fill="red" filter="url(#f)"/></svg>';

  test('an SVG bomb, an SVG behind an XML prolog and BOM, SVGZ and PDF are named and refused at once', async () => {
    const t0 = Date.now();
    await expect(decodeRgb(Buffer.from(bomb), { name: 'upload.svg' })).rejects.toThrow(/^upload\.svg: cannot decode image: an SVG \(vector\) image: not rendered/);
    await expect(decodeRgb(Buffer.from('\uFEFF  <?xml version="1.0"?>\n<!-- a comment -->\n' + bomb))).rejects.toThrow(/an SVG \(vector\) image/);
    const { gzipSync } = await import('zlib');
    await expect(decodeRgb(gzipSync(Buffer.from(bomb)))).rejects.toThrow(/gzip-compressed data \(an SVGZ\?\)/);
    await expect(decodeRgb(Buffer.from('%PDF-1.7\n%...'))).rejects.toThrow(/a PDF: vector documents are not decoded/);
    expect(Date.now() - t0).toBeLessThan(2000);
    // raster images decode as before
    const img = await decodeRgb(await solid(3, { r: 1, g: 2, b: 3 }).png({ compressionLevel: 0 }).toBuffer());
    expect([img.width, img.height]).toEqual([8, 6]);
  });
});
