import { cropRgb, type RgbImage } from '../../lib/data/image';
import { cropResizeBicubic, resizeBicubic } from '../../lib/data/resample';
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
