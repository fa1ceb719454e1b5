/**
 * Training augmentations used by the GUIE winners: random resized crop, horizontal flip, colour
 * jitter, JPEG re-compression, cutout. Parameters are sampled from a per-sample seed (pure), then
 * applied with machine-independent arithmetic (Pillow's bicubic and the jitter in WebAssembly, libjpeg-turbo),
 * so results never depend on which worker or machine ran a sample.
 */
import type { Preprocess } from '../core/preprocess';
import type { Box } from '../core/box';
import type { RgbImage } from '../core/rgb-image';
import { decodeRgb, decodeRgbFast, encodeJpeg, type DecodeOptions } from './image';
import { decodeJpegTurbo, encodeJpegTurbo } from './jpeg';
import { cropResizeBicubic } from './resample';
import { align16, heap, pixelKernels } from './wasm';
import { Rng } from '../util/random';

export interface AugmentConfig {
  /** RandomResizedCrop area fraction and aspect-ratio ranges (torchvision semantics). */
  scale: [number, number];
  ratio: [number, number];
  /** Probability of a horizontal flip. */
  hflip: number;
  /** Colour jitter factors: each drawn uniformly from [1 - x, 1 + x]; null = off. */
  colorJitter: { p: number; brightness: number; contrast: number; saturation: number } | null;
  /** Re-encode as JPEG with a random quality (robustness to compression artefacts). */
  jpeg: { p: number; quality: [number, number] } | null;
  /** Erase one random rectangle (area fraction range), filled with the normalisation mean. */
  cutout: { p: number; scale: [number, number]; ratio: [number, number] } | null;
}

export const DEFAULT_AUGMENT: Readonly<AugmentConfig> = Object.freeze({
  scale: [0.25, 1] as [number, number],
  ratio: [3 / 4, 4 / 3] as [number, number],
  hflip: 0.5,
  colorJitter: { p: 0.8, brightness: 0.3, contrast: 0.3, saturation: 0.3 },
  jpeg: { p: 0.3, quality: [40, 95] as [number, number] },
  cutout: { p: 0.25, scale: [0.02, 0.2] as [number, number], ratio: [0.3, 3.3] as [number, number] },
});

/** Mixes several integers into one 32-bit seed (e.g. run seed, epoch, sample index). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193);
    h ^= h >>> 13;
    h = Math.imul(h, 0x5bd1e995);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

const uniform = (r: Rng, lo: number, hi: number) => lo + (hi - lo) * r.float();
/** Python's random.randint-like integer in [lo, hi). */
const randint = (r: Rng, lo: number, hi: number) => lo + r.int(hi - lo);

/** torchvision RandomResizedCrop.get_params: 10 tries, then a centre crop clamped to the ratio range. */
export function randomResizedCropBox(r: Rng, width: number, height: number, scale: [number, number], ratio: [number, number]): Box {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let i = 0; i < 10; i++) {
    const target = area * uniform(r, scale[0], scale[1]);
    const aspect = Math.exp(uniform(r, logRatio[0], logRatio[1]));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { left: randint(r, 0, width - w + 1), top: randint(r, 0, height - h + 1), width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

export interface AugmentParams {
  crop: Box;
  flip: boolean;
  jitter: { brightness: number; contrast: number; saturation: number } | null;
  jpegQuality: number | null;
  /** In output (size x size) coordinates. */
  cutout: Box | null;
}

/** All random choices for one sample, from its seed and the decoded image size. */
export function sampleAugment(seed: number, cfg: AugmentConfig, width: number, height: number, size: number): AugmentParams {
  const r = new Rng(seed); // one stream per sample
  const crop = randomResizedCropBox(r, width, height, cfg.scale, cfg.ratio);
  const flip = r.float() < cfg.hflip;
  const cj = cfg.colorJitter;
  const jitter =
    cj && r.float() < cj.p
      ? {
          brightness: uniform(r, 1 - cj.brightness, 1 + cj.brightness),
          contrast: uniform(r, 1 - cj.contrast, 1 + cj.contrast),
          saturation: uniform(r, 1 - cj.saturation, 1 + cj.saturation),
        }
      : null;
  const jpegQuality = cfg.jpeg && r.float() < cfg.jpeg.p ? Math.round(uniform(r, cfg.jpeg.quality[0], cfg.jpeg.quality[1])) : null;
  let cutout: Box | null = null;
  if (cfg.cutout && r.float() < cfg.cutout.p) {
    const a = size * size * uniform(r, cfg.cutout.scale[0], cfg.cutout.scale[1]);
    const asp = Math.exp(uniform(r, Math.log(cfg.cutout.ratio[0]), Math.log(cfg.cutout.ratio[1])));
    const w = Math.min(size, Math.max(1, Math.round(Math.sqrt(a * asp))));
    const h = Math.min(size, Math.max(1, Math.round(Math.sqrt(a / asp))));
    cutout = { left: randint(r, 0, size - w + 1), top: randint(r, 0, size - h + 1), width: w, height: h };
  }
  return { crop, flip, jitter, jpegQuality, cutout };
}

/**
 * torchvision adjust_brightness / adjust_contrast / adjust_saturation, in that order, in place
 * (lib/data/wasm/jitter.ts). Contrast blends towards the mean gray of the brightness-adjusted image.
 */
export function colorJitter(img: RgbImage, j: { brightness: number; contrast: number; saturation: number }): void {
  const k = pixelKernels();
  const data = align16(k.heapBase());
  const scratch = align16(data + img.data.length);
  const mem = heap(k, scratch + k.jitterScratchBytes());
  mem.set(img.data, data);
  k.colorJitter(data, img.width * img.height, j.brightness, j.contrast, j.saturation, scratch);
  img.data.set(mem.subarray(data, data + img.data.length));
}

/** Fills a box with one colour, in place. */
export function fillBox(img: RgbImage, box: Box, rgb: [number, number, number]): void {
  for (let y = box.top; y < box.top + box.height; y++) {
    for (let x = box.left; x < box.left + box.width; x++) {
      const o = (y * img.width + x) * 3;
      img.data[o] = rgb[0];
      img.data[o + 1] = rgb[1];
      img.data[o + 2] = rgb[2];
    }
  }
}

/**
 * Applies sampled parameters: decoded image -> size x size augmented uint8 RGB. The crop + resize is
 * torchvision's RandomResizedCrop(BICUBIC) on PIL bit for bit; the flip is folded into it.
 */
export async function applyAugment(img: RgbImage, params: AugmentParams, p: Pick<Preprocess, 'imageSize' | 'mean'>): Promise<RgbImage> {
  const size = p.imageSize;
  let out = cropResizeBicubic(img, params.crop, size, size, params.flip);
  if (params.jitter) colorJitter(out, params.jitter);
  if (params.jpegQuality !== null) out = await recompressJpeg(out, params.jpegQuality);
  if (params.cutout) fillBox(out, params.cutout, [0, 1, 2].map((c) => Math.round(p.mean[c] * 255)) as [number, number, number]);
  return out;
}

/** JPEG round trip at `quality` (what tf.image.adjust_jpeg_quality does): TurboJPEG, else sharp. */
export async function recompressJpeg(img: RgbImage, quality: number): Promise<RgbImage> {
  const jpg = encodeJpegTurbo(img, quality) ?? (await encodeJpeg(img, quality));
  return decodeJpegTurbo(jpg, img.width * img.height) ?? (await decodeRgb(jpg));
}

/** Encoded bytes + per-sample seed -> augmented image (the pipeline's training transform). */
export async function augmentBytes(bytes: Uint8Array, seed: number, cfg: AugmentConfig, p: Pick<Preprocess, 'imageSize' | 'mean'>, opts: DecodeOptions = {}): Promise<RgbImage> {
  return augmentImage(await decodeRgbFast(bytes, opts), seed, cfg, p);
}

/** Decoded image + per-sample seed -> augmented image. */
export async function augmentImage(img: RgbImage, seed: number, cfg: AugmentConfig, p: Pick<Preprocess, 'imageSize' | 'mean'>): Promise<RgbImage> {
  return applyAugment(img, sampleAugment(seed, cfg, img.width, img.height, p.imageSize), p);
}
