/**
 * A joint RGB colour histogram as an Embedder: 4x4x4 bins = 64 floats, square-rooted (Hellinger)
 * and L2-normalised. No weights, exact and deterministic: the baseline that any learned model
 * must beat, and a real embedder for tests and the evaluation notebook.
 */
import type { Embedder } from '../embedder';
import type { RgbImage } from '../core/rgb-image';
import { CLIP_MEAN, CLIP_STD } from '../model/vit-config';

export function colourHistogram(img: RgbImage, bins = 4): Float32Array {
  const out = new Float32Array(bins * bins * bins);
  const px = img.width * img.height;
  if (img.data.length !== px * 3) throw new Error(`colourHistogram: ${img.data.length} bytes for ${img.width}x${img.height} RGB`);
  const scale = bins / 256;
  for (let i = 0; i < px * 3; i += 3) {
    const r = Math.floor(img.data[i] * scale);
    const g = Math.floor(img.data[i + 1] * scale);
    const b = Math.floor(img.data[i + 2] * scale);
    out[(r * bins + g) * bins + b] += 1;
  }
  for (let j = 0; j < out.length; j++) out[j] = Math.sqrt(out[j] / px);
  // The squared entries sum to 1 already; normalise anyway against float rounding.
  const norm = Math.hypot(...out) || 1;
  for (let j = 0; j < out.length; j++) out[j] /= norm;
  return out;
}

export class ColourHistogramEmbedder implements Embedder {
  readonly name: string = 'colour-histogram-4';
  readonly dim = 64;
  readonly preprocess = { imageSize: 224, mean: CLIP_MEAN, std: CLIP_STD, resize: 'bilinear' as const };

  async embed(images: RgbImage[]): Promise<Float32Array> {
    const out = new Float32Array(images.length * this.dim);
    images.forEach((img, i) => out.set(colourHistogram(img), i * this.dim));
    return out;
  }

  dispose(): void {}
}
