import { applyAugment, augmentBytes, augmentImage, colorJitter, DEFAULT_AUGMENT, fillBox, mixSeed, randomResizedCropBox, sampleAugment, type AugmentParams } from '../../lib/data/augment';
import { Rng } from '../../lib/util/random';
import { decodeRgb, decodeRgbFast } from '../../lib/data/image';
import type { RgbImage } from '../../lib/core/rgb-image';
import { cropResizeBicubic } from '../../lib/data/resample';
import { CLIP_MEAN } from '../../lib/model/vit-config';
import sharp from 'sharp';
import { jpeg, png } from './helpers';

const P = { imageSize: 32, mean: CLIP_MEAN };

function mirror(img: RgbImage): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) out.set(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3), (y * img.width + img.width - 1 - x) * 3);
  }
  return { ...img, data: out };
}

describe('augmentation parameters', () => {
  test('seeded: same seed same params; mixSeed separates epochs and positions', () => {
    expect(sampleAugment(5, DEFAULT_AUGMENT, 100, 80, 32)).toEqual(sampleAugment(5, DEFAULT_AUGMENT, 100, 80, 32));
    expect(sampleAugment(5, DEFAULT_AUGMENT, 100, 80, 32)).not.toEqual(sampleAugment(6, DEFAULT_AUGMENT, 100, 80, 32));
    expect(mixSeed(1, 0, 2)).not.toBe(mixSeed(1, 2, 0));
    const r = new Rng(1);
    const xs = Array.from({ length: 1000 }, () => r.float());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(Math.abs(xs.reduce((a, b) => a + b) / 1000 - 0.5)).toBeLessThan(0.05);
  });

  test('random resized crop stays inside the image with area and ratio in range (torchvision rule)', () => {
    const r = new Rng(9);
    for (let i = 0; i < 500; i++) {
      const b = randomResizedCropBox(r, 120, 90, [0.25, 1], [3 / 4, 4 / 3]);
      expect(b.left).toBeGreaterThanOrEqual(0);
      expect(b.top).toBeGreaterThanOrEqual(0);
      expect(b.left + b.width).toBeLessThanOrEqual(120);
      expect(b.top + b.height).toBeLessThanOrEqual(90);
      // Rounding of w and h loosens the bounds slightly on small images.
      expect((b.width * b.height) / (120 * 90)).toBeGreaterThan(0.22);
      expect(b.width / b.height).toBeGreaterThan(0.7);
      expect(b.width / b.height).toBeLessThan(1.43);
    }
    // No valid crop for an extreme aspect ratio: centre crop clamped to the ratio range.
    expect(randomResizedCropBox(new Rng(1), 400, 10, [0.99, 1], [3 / 4, 4 / 3])).toEqual({ left: 193, top: 0, width: 13, height: 10 });
  });
});

describe('augmentation ops', () => {
  test('identity parameters reproduce a plain crop+resize; flip mirrors; cutout fills the mean colour', async () => {
    const img = await decodeRgb(await png(60, 40, 2));
    const crop = { left: 5, top: 3, width: 40, height: 30 };
    const none: AugmentParams = { crop, flip: false, jitter: null, jpegQuality: null, cutout: null };
    const plain = cropResizeBicubic(img, crop, 32, 32);
    expect(Buffer.from((await applyAugment(img, none, P)).data).equals(Buffer.from(plain.data))).toBe(true);
    const flipped = await applyAugment(img, { ...none, flip: true }, P);
    expect(Buffer.from(mirror(flipped).data).equals(Buffer.from(plain.data))).toBe(true);
    expect(Buffer.from(flipped.data).equals(Buffer.from(plain.data))).toBe(false);
    const cut = await applyAugment(img, { ...none, cutout: { left: 2, top: 4, width: 5, height: 3 } }, P);
    const at = (x: number, y: number) => Array.from(cut.data.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
    expect(at(2, 4)).toEqual([123, 117, 104]);
    expect(at(6, 6)).toEqual([123, 117, 104]);
    expect(at(7, 6)).toEqual(Array.from(plain.data.subarray((6 * 32 + 7) * 3, (6 * 32 + 7) * 3 + 3)));
    const jpg = await applyAugment(img, { ...none, jpegQuality: 30 }, P);
    let diff = 0;
    jpg.data.forEach((v, i) => (diff += Math.abs(v - plain.data[i])));
    expect(diff / jpg.data.length).toBeGreaterThan(0.5);
    expect(diff / jpg.data.length).toBeLessThan(20);
  });

  test('augmentBytes = augmentImage on the fast decode: TurboJPEG for JPEGs, sharp for anything else', async () => {
    const jpg = await jpeg(90, 70, 3);
    const alphaPng = await sharp({ create: { width: 50, height: 40, channels: 4, background: { r: 9, g: 200, b: 30, alpha: 0.4 } } }).png().toBuffer();
    // The fast path really is a different decoder for JPEGs (fast IDCT) and the same one for PNGs.
    expect(Buffer.from((await decodeRgbFast(jpg)).data).equals(Buffer.from((await decodeRgb(jpg)).data))).toBe(false);
    expect(Buffer.from((await decodeRgbFast(alphaPng)).data).equals(Buffer.from((await decodeRgb(alphaPng)).data))).toBe(true);
    for (const bytes of [jpg, alphaPng]) {
      for (const seed of [1, 2, 3]) {
        const a = await augmentBytes(bytes, seed, DEFAULT_AUGMENT, P);
        const b = await augmentImage(await decodeRgbFast(bytes), seed, DEFAULT_AUGMENT, P);
        expect([a.width, a.height]).toEqual([32, 32]);
        expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
      }
    }
    await expect(augmentBytes(Buffer.from('nope'), 1, DEFAULT_AUGMENT, P, { name: 'r9' })).rejects.toThrow(/^r9: cannot decode image/);
  });

  test('colour jitter: brightness scales, contrast blends to mean gray, saturation 0 gives gray', () => {
    const img = () => ({ data: new Uint8Array([100, 50, 0, 200, 150, 100]), width: 2, height: 1 });
    const a = img();
    colorJitter(a, { brightness: 1, contrast: 1, saturation: 1 });
    expect(Array.from(a.data)).toEqual([100, 50, 0, 200, 150, 100]);
    const b = img();
    colorJitter(b, { brightness: 0.5, contrast: 1, saturation: 1 });
    expect(Array.from(b.data)).toEqual([50, 25, 0, 100, 75, 50]);
    const c = img();
    colorJitter(c, { brightness: 1, contrast: 0, saturation: 1 });
    const mean = (0.299 * 100 + 0.587 * 50 + 0.114 * 0 + 0.299 * 200 + 0.587 * 150 + 0.114 * 100) / 2;
    expect(Array.from(c.data)).toEqual(new Array(6).fill(Math.round(mean)));
    const d = img();
    colorJitter(d, { brightness: 1, contrast: 1, saturation: 0 });
    expect(d.data[0]).toBe(d.data[1]);
    expect(d.data[1]).toBe(d.data[2]);
    expect(d.data[0]).toBe(Math.round(0.299 * 100 + 0.587 * 50));
    const e = { data: new Uint8Array(12).fill(9), width: 2, height: 2 };
    fillBox(e, { left: 1, top: 1, width: 1, height: 1 }, [1, 2, 3]);
    expect(Array.from(e.data)).toEqual([9, 9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3]);
  });
});
