import { cropRgb } from '../../lib/data/image';
import type { RgbImage } from '../../lib/core/rgb-image';
import { cropResize, cropResizeBicubic, resizeBicubic, resizeRgb } from '../../lib/data/resample';
import { gradientRgb } from './helpers';

const image = (w: number, h: number, seed = 0): RgbImage => ({ data: new Uint8Array(gradientRgb(w, h, seed)), width: w, height: h });
const same = (a: RgbImage, b: RgbImage) => a.width === b.width && a.height === b.height && Buffer.from(a.data).equals(Buffer.from(b.data));

describe('cropResizeBicubic (Pillow bicubic in WebAssembly; exactness vs Pillow is in test/oracle)', () => {
  test('a box of a big image resamples like the same box cut out first (both pass orders)', () => {
    const big = image(1500, 1000, 4); // grows the module's memory
    for (const [box, w, h] of [
      [{ left: 100, top: 200, width: 700, height: 500 }, 224, 224], // horizontal pass first
      [{ left: 1, top: 3, width: 300, height: 990 }, 250, 100], // vertical pass first
      [{ left: 1499, top: 999, width: 1, height: 1 }, 3, 2], // one pixel, at the far corner
    ] as const) {
      expect(same(cropResizeBicubic(big, box, w, h), resizeBicubic(cropRgb(big, box), w, h))).toBe(true);
    }
    // and a small image afterwards still comes out right: a constant image stays constant
    const flat: RgbImage = { data: new Uint8Array(10 * 7 * 3).fill(77), width: 10, height: 7 };
    expect(Array.from(new Set(resizeBicubic(flat, 23, 5).data))).toEqual([77]);
  });

  test('flip mirrors the output; same size is the identity', () => {
    const img = image(40, 30, 1);
    const a = cropResizeBicubic(img, { left: 3, top: 2, width: 30, height: 20 }, 16, 16);
    const b = cropResizeBicubic(img, { left: 3, top: 2, width: 30, height: 20 }, 16, 16, true);
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 16; x++) {
        expect(Array.from(b.data.subarray((y * 16 + 15 - x) * 3, (y * 16 + 15 - x) * 3 + 3))).toEqual(Array.from(a.data.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3)));
      }
    }
    expect(same(cropResizeBicubic(img, { left: 0, top: 0, width: 40, height: 30 }, 40, 30), img)).toBe(true);
  });

  test('boxes outside the image and empty outputs are refused', () => {
    const img = image(20, 10);
    expect(() => cropResizeBicubic(img, { left: 15, top: 0, width: 6, height: 5 }, 8, 8)).toThrow(/outside a 20x10 image/);
    expect(() => cropResizeBicubic(img, { left: 0, top: 0, width: 0, height: 5 }, 8, 8)).toThrow(RangeError);
    expect(() => cropResizeBicubic(img, { left: 0, top: 0, width: 5, height: 5 }, 0, 8)).toThrow(/bad output size/);
  });
});

describe('bilinear filter (Pillow BILINEAR; exactness vs Pillow is in test/oracle/data_codec_resize)', () => {
  test('a different filter from bicubic, same geometry: constant stays constant, same size is the identity, boxes = cut-outs', () => {
    const img = image(300, 200, 2);
    const bil = resizeRgb(img, 64, 64, 'bilinear');
    const bic = resizeRgb(img, 64, 64, 'bicubic');
    expect([bil.width, bil.height]).toEqual([64, 64]);
    expect(same(bil, bic)).toBe(false);
    // a step edge 50 | 200: the triangle never overshoots, bicubic's negative lobes ring past both sides
    const step: RgbImage = { data: new Uint8Array(40 * 4 * 3).map((_, i) => (Math.floor(i / 3) % 40 < 17 ? 50 : 200)), width: 40, height: 4 };
    const range = (im: RgbImage) => im.data.reduce(([lo, hi], v) => [Math.min(lo, v), Math.max(hi, v)], [255, 0]);
    expect(range(resizeRgb(step, 15, 4, 'bilinear'))).toEqual([50, 200]);
    const [lo, hi] = range(resizeRgb(step, 15, 4, 'bicubic'));
    expect(lo).toBeLessThan(50);
    expect(hi).toBeGreaterThan(200);
    const flat: RgbImage = { data: new Uint8Array(10 * 7 * 3).fill(200), width: 10, height: 7 };
    expect(Array.from(new Set(resizeRgb(flat, 23, 5, 'bilinear').data))).toEqual([200]);
    expect(same(cropResize(img, { left: 0, top: 0, width: 300, height: 200 }, 300, 200, 'bilinear'), img)).toBe(true);
    const box = { left: 7, top: 3, width: 180, height: 190 };
    expect(same(cropResize(img, box, 50, 20, 'bilinear'), resizeRgb(cropRgb(img, box), 50, 20, 'bilinear'))).toBe(true);
  });

  test('2x downscale of a 1-D ramp: the (1,3,3,1)/8 triangle taps of Pillow', () => {
    // 8 px wide ramp 0, 32, ..., 224 -> 4 px: output x averages inputs 2x-1..2x+2 with weights 1,3,3,1 (edges renormalised)
    const data = new Uint8Array(8 * 3);
    for (let x = 0; x < 8; x++) data.fill(x * 32, x * 3, x * 3 + 3);
    const out = resizeRgb({ data, width: 8, height: 1 }, 4, 1, 'bilinear');
    const want = [0, 1, 2, 3].map((o) => {
      const taps = [2 * o - 1, 2 * o, 2 * o + 1, 2 * o + 2].map((i, k) => [i, [1, 3, 3, 1][k]]).filter(([i]) => i >= 0 && i < 8);
      const total = taps.reduce((a, [, w]) => a + w, 0);
      return Math.round(taps.reduce((a, [i, w]) => a + i * 32 * w, 0) / total);
    });
    expect(Array.from(out.data.filter((_, i) => i % 3 === 0))).toEqual(want);
  });
});
