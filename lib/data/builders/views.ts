/**
 * One photo -> its augmented views: the ranges a recipe draws from (ViewAugment), one view's seeded draws
 * (ViewParams) and the renderer (sharp: rotation . shear . stretch, the largest border-free crop, colour,
 * blur, JPEG quality). The sample, the jig's demo gallery and the test helpers all render views here; a
 * recipe is data, not code.
 */
import sharp from 'sharp';
import type { Rng } from '../../util/random';

/** Ranges the per-view augmentation draws from (uniform unless noted). */
export interface ViewAugment {
  /** Fraction of the image area a crop keeps. */
  cropArea: [number, number];
  /** Crop width/height ratio (log-uniform). */
  cropAspect: [number, number];
  /** Maximum |rotation| in degrees. */
  rotateDeg: number;
  /** Maximum |shear| (perspective-like skew of a hand-held shot). */
  shear: number;
  /** Maximum anisotropic scale change (x and y drawn separately). */
  stretch: number;
  brightness: [number, number];
  saturation: [number, number];
  hueDeg: number;
  contrast: [number, number];
  blurProb: number;
  blurSigma: [number, number];
  jpegQuality: [number, number];
}

export const DEFAULT_VIEW_AUGMENT: Readonly<ViewAugment> = Object.freeze({
  cropArea: [0.35, 1],
  cropAspect: [0.75, 1.333],
  rotateDeg: 20,
  shear: 0.15,
  stretch: 0.12,
  brightness: [0.7, 1.3],
  saturation: [0.6, 1.4],
  hueDeg: 15,
  contrast: [0.75, 1.25],
  blurProb: 0.3,
  blurSigma: [0.4, 1.5],
  jpegQuality: [40, 95],
}) as ViewAugment;

const uniform = (rand: Rng, [lo, hi]: [number, number]) => lo + (hi - lo) * rand.float();
const symmetric = (rand: Rng, max: number) => (2 * rand.float() - 1) * max;

/** One view's concrete draws. */
export interface ViewParams {
  rotateDeg: number;
  shearX: number;
  scaleX: number;
  scaleY: number;
  cropArea: number;
  cropAspect: number;
  /** Crop position in [0,1]^2 within the room left around it. */
  cropX: number;
  cropY: number;
  brightness: number;
  saturation: number;
  hueDeg: number;
  contrast: number;
  blurSigma: number;
  jpegQuality: number;
}

export function drawViewParams(rand: Rng, aug: ViewAugment): ViewParams {
  const logAspect = uniform(rand, [Math.log(aug.cropAspect[0]), Math.log(aug.cropAspect[1])]);
  const p: ViewParams = {
    rotateDeg: symmetric(rand, aug.rotateDeg),
    shearX: symmetric(rand, aug.shear),
    scaleX: 1 + symmetric(rand, aug.stretch),
    scaleY: 1 + symmetric(rand, aug.stretch),
    cropArea: uniform(rand, aug.cropArea),
    cropAspect: Math.exp(logAspect),
    cropX: rand.float(),
    cropY: rand.float(),
    brightness: uniform(rand, aug.brightness),
    saturation: uniform(rand, aug.saturation),
    hueDeg: symmetric(rand, aug.hueDeg),
    contrast: uniform(rand, aug.contrast),
    blurSigma: 0,
    jpegQuality: Math.round(uniform(rand, aug.jpegQuality)),
  };
  if (rand.float() < aug.blurProb) p.blurSigma = uniform(rand, aug.blurSigma);
  return p;
}

/** Linear part of the view's geometry: rotation . shear . stretch, row-major [a, b, c, d]. */
function geometry(p: ViewParams): [number, number, number, number] {
  const t = (p.rotateDeg * Math.PI) / 180;
  const [c, s] = [Math.cos(t), Math.sin(t)];
  // R = [[c,-s],[s,c]], H = [[1,shearX],[0,1]], S = diag(scaleX, scaleY)
  return [c * p.scaleX, (c * p.shearX - s) * p.scaleY, s * p.scaleX, (s * p.shearX + c) * p.scaleY];
}

/**
 * Scale a in (0,1] of the largest centred w x h-shaped rectangle of the transformed image that
 * holds no border: every corner of it must map back inside the source.
 */
function inscribedScale(m: [number, number, number, number], w: number, h: number): number {
  const [a, b, c, d] = m;
  const det = a * d - b * c;
  const inv = [d / det, -b / det, -c / det, a / det];
  let scale = 1;
  for (const [x, y] of [[w / 2, h / 2], [w / 2, -h / 2]]) {
    const sx = Math.abs(inv[0] * x + inv[1] * y);
    const sy = Math.abs(inv[2] * x + inv[3] * y);
    scale = Math.min(scale, w / 2 / sx, h / 2 / sy);
  }
  return scale;
}

/** Renders one augmented view of a photo as JPEG. */
export async function renderView(photo: Uint8Array, p: ViewParams, size: number): Promise<Buffer> {
  const m = geometry(p);
  const meta = await sharp(photo).metadata();
  const [w, h] = [meta.width ?? 0, meta.height ?? 0];
  if (!w || !h) throw new Error('photo has no dimensions');
  const warped = await sharp(photo)
    .removeAlpha()
    .affine(m, { background: { r: 128, g: 128, b: 128 }, interpolator: sharp.interpolators.bicubic })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width: W, height: H } = warped.info;
  // Largest border-free rectangle (2% safety for resampling at the edges), then the random crop inside it.
  const k = 0.98 * inscribedScale(m, w, h);
  const [iw, ih] = [k * w, k * h];
  const area = p.cropArea * iw * ih;
  const cw = Math.min(iw, Math.sqrt(area * p.cropAspect));
  const ch = Math.min(ih, Math.sqrt(area / p.cropAspect));
  const left = Math.round((W - iw) / 2 + p.cropX * (iw - cw));
  const top = Math.round((H - ih) / 2 + p.cropY * (ih - ch));
  const box = { left, top, width: Math.max(1, Math.min(W - left, Math.round(cw))), height: Math.max(1, Math.min(H - top, Math.round(ch))) };
  let img = sharp(warped.data, { raw: { width: W, height: H, channels: warped.info.channels } })
    .extract(box)
    .resize(size, size, { fit: 'inside', kernel: 'lanczos3' })
    .modulate({ brightness: p.brightness, saturation: p.saturation, hue: Math.round(p.hueDeg) })
    .linear(p.contrast, 128 * (1 - p.contrast));
  if (p.blurSigma > 0) img = img.blur(Math.max(0.3, p.blurSigma));
  return img.jpeg({ quality: p.jpegQuality, mozjpeg: false }).toBuffer();
}
