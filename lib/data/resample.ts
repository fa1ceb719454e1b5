/**
 * Pillow's bicubic resampling (libImaging/Resample.c), reproduced exactly: separable, horizontal
 * pass then vertical, support widened by the scale when shrinking, 22-bit fixed-point weights and
 * 8-bit rounding between passes. torchvision's Resize on PIL images (and so OpenCLIP's eval
 * transform) uses it; libvips upsamples differently, so upscaling goes through this.
 */
import type { RgbImage } from '../embedder';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** Pillow's bicubic kernel, a = -0.5. */
function bicubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  /** Fixed-point weights, `maxTaps` per output pixel. */
  weights: Float64Array;
  maxTaps: number;
}

/** precompute_coeffs + normalize_coeffs_8bpc. */
function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * maxTaps);
  const k = new Float64Array(maxTaps);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < n; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) / filterScale);
      total += k[x];
    }
    for (let x = 0; x < n; x++) {
      const w = total !== 0 ? k[x] / total : 0;
      // C's (int)(w * ONE + (w < 0 ? -0.5 : 0.5)) truncates toward zero.
      weights[xx * maxTaps + x] = Math.trunc(w * ONE + (w < 0 ? -0.5 : 0.5));
    }
    start[xx] = xmin;
    count[xx] = n;
  }
  return { start, count, weights, maxTaps };
}

const clip8 = (v: number) => {
  const x = Math.floor(v / ONE);
  return x < 0 ? 0 : x > 255 ? 255 : x;
};

function horizontal(src: Uint8Array, w: number, h: number, outW: number): Uint8Array {
  const t = taps(w, outW);
  const out = new Uint8Array(outW * h * 3);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let xx = 0; xx < outW; xx++) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      const base = xx * t.maxTaps;
      for (let i = 0; i < t.count[xx]; i++) {
        const k = t.weights[base + i];
        const o = row + (t.start[xx] + i) * 3;
        r += src[o] * k;
        g += src[o + 1] * k;
        b += src[o + 2] * k;
      }
      const d = (y * outW + xx) * 3;
      out[d] = clip8(r);
      out[d + 1] = clip8(g);
      out[d + 2] = clip8(b);
    }
  }
  return out;
}

function vertical(src: Uint8Array, w: number, h: number, outH: number): Uint8Array {
  const t = taps(h, outH);
  const out = new Uint8Array(w * outH * 3);
  for (let yy = 0; yy < outH; yy++) {
    const base = yy * t.maxTaps;
    for (let x = 0; x < w; x++) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let i = 0; i < t.count[yy]; i++) {
        const k = t.weights[base + i];
        const o = ((t.start[yy] + i) * w + x) * 3;
        r += src[o] * k;
        g += src[o + 1] * k;
        b += src[o + 2] * k;
      }
      const d = (yy * w + x) * 3;
      out[d] = clip8(r);
      out[d + 1] = clip8(g);
      out[d + 2] = clip8(b);
    }
  }
  return out;
}

/** PIL `Image.resize((width, height), Image.BICUBIC)` on an RGB image. */
export function pilBicubicResize(img: RgbImage, width: number, height: number): RgbImage {
  let data = img.data;
  if (width !== img.width) data = horizontal(data, img.width, img.height, width);
  if (height !== img.height) data = vertical(data, width, img.height, height);
  return { data, width, height };
}
