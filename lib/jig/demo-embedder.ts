/**
 * The demo embedder: a fixed, training-free 64-d image descriptor so the jig runs offline with no
 * model file. 32 colour bins (8 hues x 4 brightness levels for saturated pixels, 8 grey levels for
 * the rest) + 24 texture bins (8 gradient orientations x 3 magnitudes), square-rooted (Hellinger)
 * and L2-normalised. Robust to flips, crops and mild colour jitter, so augmented views of one
 * picture find each other; it knows nothing about semantics. A real model comes in via `--model`.
 */
import { resizeForModel } from '../data/image';
import type { Embedder } from '../embedder';
import type { RgbImage } from '../core/rgb-image';
import type { Preprocess } from '../core/preprocess';

const SIZE = 64;
const DIM = 64;
const COLOUR_BINS = 40;

export const DEMO_PREPROCESS: Preprocess = { imageSize: SIZE, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bilinear' };

function hueBin(r: number, g: number, b: number, max: number, chroma: number): number {
  let h: number;
  if (max === r) h = ((g - b) / chroma + 6) % 6;
  else if (max === g) h = (b - r) / chroma + 2;
  else h = (r - g) / chroma + 4;
  return Math.min(7, Math.floor((h / 6) * 8));
}

/** One image -> 64 floats, unit length. Bin counts depend on scale: pass 64x64 pixels (see `embed`). */
export function demoDescriptor(img: RgbImage, out: Float32Array = new Float32Array(DIM)): Float32Array {
  const { data, width: w, height: h } = img;
  if (data.length !== w * h * 3) throw new Error(`demo embedder: ${w}x${h} image needs ${w * h * 3} bytes, got ${data.length}`);
  out.fill(0);
  const luma = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const r = data[3 * i] / 255;
    const g = data[3 * i + 1] / 255;
    const b = data[3 * i + 2] / 255;
    const max = Math.max(r, g, b);
    const chroma = max - Math.min(r, g, b);
    const sat = max > 0 ? chroma / max : 0;
    const bin = sat < 0.2 ? 32 + Math.min(7, Math.floor(max * 8)) : hueBin(r, g, b, max, chroma) * 4 + Math.min(3, Math.floor(max * 4));
    out[bin]++;
    luma[i] = 0.299 * data[3 * i] + 0.587 * data[3 * i + 1] + 0.114 * data[3 * i + 2];
  }
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const gx = luma[i + 1] - luma[i - 1];
      const gy = luma[i + w] - luma[i - w];
      const mag = Math.hypot(gx, gy);
      if (mag <= 8) continue; // flat regions carry JPEG noise, not texture
      const o = Math.floor((((Math.atan2(gy, gx) + Math.PI) % Math.PI) / Math.PI) * 8) % 8;
      out[COLOUR_BINS + o * 3 + (mag < 32 ? 0 : mag < 96 ? 1 : 2)]++;
    }
  }
  let ss = 0;
  for (let j = 0; j < DIM; j++) {
    out[j] = Math.sqrt(out[j]);
    ss += out[j] * out[j];
  }
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  for (let j = 0; j < DIM; j++) out[j] *= inv;
  return out;
}

export class DemoEmbedder implements Embedder {
  readonly name = 'demo-colour-texture-v1';
  readonly dim = DIM;
  readonly preprocess = DEMO_PREPROCESS;

  async embed(images: RgbImage[]): Promise<Float32Array> {
    const out = new Float32Array(images.length * DIM);
    for (const [i, img] of images.entries()) {
      const sized = img.width === SIZE && img.height === SIZE ? img : await resizeForModel(img, DEMO_PREPROCESS);
      demoDescriptor(sized, out.subarray(i * DIM, (i + 1) * DIM));
    }
    return out;
  }

  dispose(): void {}
}
