/**
 * Image decoding (sharp/libvips; TurboJPEG for training batches) and model preprocessing.
 * Any input (grayscale, CMYK, alpha, 16-bit, palette) becomes 8-bit sRGB RgbImage; a pixel limit
 * guards against decompression bombs; model preprocessing is Pillow's, bit for bit (decode = Pillow's,
 * resize = lib/data/resample): CLIP's torchvision Resize(size, BICUBIC) + CenterCrop(size), or the
 * CNNs' resize((size, size), BILINEAR). The exported graphs compute the same pixels (lib/export/inference-graph).
 */
import sharp, { type Sharp } from 'sharp';
import type { Box } from '../core/box';
import type { RgbImage } from '../core/rgb-image';
import type { Preprocess } from '../core/preprocess';
import { decodeJpegTurbo } from './jpeg';
import { resizeRgb } from './resample';


/**
 * Version of the pixels decodeRgb + resizeForModel produce: bumped whenever they change (2: Pillow-exact
 * bicubic; 3: Pillow's antialiased bilinear for 'bilinear', was libvips' linear), so caches of features
 * computed from them know they are stale.
 */
export const PIXELS_VERSION = 3;

/** Pillow's MAX_IMAGE_PIXELS: the same guard a PIL-based pipeline would apply. */
export const DEFAULT_MAX_PIXELS = 89_478_485;

/**
 * Wall-clock deadline of one libvips decode (whole seconds: libvips checks it between tiles and
 * cancels the work). The largest image the pixel limit lets through decodes in about 1-2 s on one
 * core, so only pathological inputs reach it.
 */
export const DEFAULT_DECODE_SECONDS = 30;

export interface DecodeOptions {
  maxPixels?: number;
  /** Deadline in seconds, rounded up to whole ones (0 = none); a decode past it is cancelled and fails with `timedOut`. */
  decodeSeconds?: number;
  /** Named in error messages (file path or record id). */
  name?: string;
  /** Colour behind transparent pixels. */
  background?: { r: number; g: number; b: number };
}

export class ImageDecodeError extends Error {
  constructor(
    readonly source: string,
    readonly reason: string,
    /** The decode was cancelled at its deadline (too much work), not refused for its content. */
    readonly timedOut = false,
  ) {
    super(`${source}: cannot decode image: ${reason}`);
    this.name = 'ImageDecodeError';
  }
}

/**
 * Why these bytes are refused before any decoder sees them, or null: vector images (SVG, SVGZ, PDF) are not
 * photos, and their declared size passes the pixel limit while rendering one (a 195-byte SVG with a blur
 * filter) can take minutes and gigabytes, so they are refused rather than rasterised.
 */
export function refusedFormat(bytes: Uint8Array): string | null {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip-compressed data (an SVGZ?): vector and compressed inputs are not decoded; give a PNG, JPEG or WebP';
  if (bytes.length >= 4 && bytes[0] === 0x25 && bytes[1] === 0x50 && bytes[2] === 0x44 && bytes[3] === 0x46) return 'a PDF: vector documents are not decoded; give a PNG, JPEG or WebP';
  const head = Buffer.from(bytes.subarray(0, 1024)).toString('utf8').replace(/^\uFEFF/, '').trimStart().toLowerCase();
  if (head.startsWith('<') && /<svg[\s>]/.test(head)) return 'an SVG (vector) image: not rendered, since rendering can take minutes and gigabytes whatever its size; rasterise it to PNG/JPEG first';
  return null;
}

/** A sharp pipeline over encoded bytes, failing with a named ImageDecodeError. */
async function decodeWith(bytes: Uint8Array, opts: DecodeOptions, build: (s: Sharp) => Sharp): Promise<RgbImage> {
  const name = opts.name ?? 'image';
  if (bytes.length === 0) throw new ImageDecodeError(name, 'zero-byte input');
  const refused = refusedFormat(bytes);
  if (refused) throw new ImageDecodeError(name, refused);
  const seconds = Math.ceil(opts.decodeSeconds ?? DEFAULT_DECODE_SECONDS);
  try {
    const s = sharp(bytes, { limitInputPixels: opts.maxPixels ?? DEFAULT_MAX_PIXELS, failOn: 'error' }).timeout({ seconds }).flatten({ background: opts.background ?? { r: 255, g: 255, b: 255 } });
    const { data, info } = await build(s).toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return toRgb(new Uint8Array(data.buffer, data.byteOffset, data.length), info.width, info.height, info.channels);
  } catch (e) {
    // libvips repeats its warnings on several lines ("VipsJpeg: premature end of JPEG image" twice): one line, each once
    const message = [...new Set((e as Error).message.split('\n').map((l) => l.trim()).filter(Boolean))].join('; ');
    // libvips' own words for a cancelled pipeline: "timeout: 42% complete"
    if (seconds > 0 && /^timeout\b/.test(message)) throw new ImageDecodeError(name, `decoding took over ${seconds} s (${message}): too much work for one image`, true);
    throw new ImageDecodeError(name, message);
  }
}

/** Encoded bytes -> 8-bit RGB. Alpha is composited on white (product photos on transparent backgrounds). */
export function decodeRgb(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  return decodeWith(bytes, opts, (s) => s);
}

/**
 * Training-pipeline decode: plain JPEGs through TurboJPEG (tf.io.decode_jpeg's pixels, about 2.5x
 * cheaper than libvips here), everything else exactly as decodeRgb.
 */
export function decodeRgbFast(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const img = decodeJpegTurbo(bytes, opts.maxPixels ?? DEFAULT_MAX_PIXELS);
  return img ? Promise.resolve(img) : decodeRgb(bytes, opts);
}

function toRgb(data: Uint8Array, width: number, height: number, channels: number): RgbImage {
  if (channels === 3) return { data, width, height };
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < out.length; i += channels, j += 3) {
    const g = data[i];
    out[j] = g;
    out[j + 1] = channels >= 3 ? data[i + 1] : g;
    out[j + 2] = channels >= 3 ? data[i + 2] : g;
  }
  return { data: out, width, height };
}

const fromRgb = (img: RgbImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });


/** torchvision Resize(int): shorter side -> size, longer side int(size * long / short). */
export function shorterSideSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.floor((size * height) / width) };
  return { width: Math.floor((size * width) / height), height: size };
}

/** Python's round(): ties to even (torchvision's CenterCrop uses it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision CenterCrop box. */
export function centerCropBox(width: number, height: number, size: number): Box {
  return { left: roundHalfEven((width - size) / 2), top: roundHalfEven((height - size) / 2), width: size, height: size };
}

/** A box of an image (a row copy, no resampling). */
export function cropRgb(img: RgbImage, box: Box): RgbImage {
  if (box.left === 0 && box.top === 0 && box.width === img.width && box.height === img.height) return img;
  const out = new Uint8Array(box.width * box.height * 3);
  for (let y = 0; y < box.height; y++) {
    const from = ((box.top + y) * img.width + box.left) * 3;
    out.set(img.data.subarray(from, from + box.width * 3), y * box.width * 3);
  }
  return { data: out, width: box.width, height: box.height };
}

/**
 * The backbone's evaluation geometry, Pillow's resampling bit for bit: CLIP ('shortest_bicubic_crop')
 * resizes the shorter side to imageSize with antialiased BICUBIC and centre-crops (OpenCLIP's eval
 * transform on the same decoded pixels); 'bilinear' squashes to imageSize x imageSize with antialiased
 * BILINEAR (PIL `img.resize((S, S), Image.BILINEAR)`). Returns imageSize x imageSize uint8 RGB.
 */
export async function resizeForModel(input: RgbImage | Uint8Array, p: Preprocess, opts: DecodeOptions = {}): Promise<RgbImage> {
  const img = input instanceof Uint8Array ? await decodeRgb(input, opts) : input;
  if (p.resize === 'bilinear') return resizeRgb(img, p.imageSize, p.imageSize, 'bilinear');
  const r = shorterSideSize(img.width, img.height, p.imageSize);
  return cropRgb(resizeRgb(img, r.width, r.height, 'bicubic'), centerCropBox(r.width, r.height, p.imageSize));
}

/** (v/255 - mean[c]) / std[c] for every 8-bit value v of channel c, at c * 256 + v: normalizeRgb's table (the exported graphs gather from it too). */
export function normalizeTable(p: Pick<Preprocess, 'mean' | 'std'>): Float32Array {
  const lut = new Float32Array(768);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - p.mean[c]) / p.std[c];
  return lut;
}

/** uint8 HWC -> float32 HWC, (x/255 - mean) / std, written at `offset` of `out` (a batch buffer). */
export function normalizeRgb(img: RgbImage, p: Pick<Preprocess, 'mean' | 'std'>, out?: Float32Array, offset = 0): Float32Array {
  const n = img.width * img.height * 3;
  const dst = out ?? new Float32Array(n);
  // One 256-entry table per channel: a lookup instead of a multiply-add per value.
  const lut = normalizeTable(p);
  const src = img.data;
  for (let i = 0; i < n; i += 3) {
    dst[offset + i] = lut[src[i]];
    dst[offset + i + 1] = lut[256 + src[i + 1]];
    dst[offset + i + 2] = lut[512 + src[i + 2]];
  }
  return dst;
}

export async function encodeJpeg(img: RgbImage, quality = 90): Promise<Buffer> {
  return fromRgb(img).jpeg({ quality }).toBuffer();
}

export async function encodePng(img: RgbImage): Promise<Buffer> {
  return fromRgb(img).png().toBuffer();
}

/** File extension for encoded image bytes, from their magic number (".jpg" when unknown: sharp sniffs content anyway). */
export function imageExtension(bytes: Uint8Array): string {
  const at = (i: number, ...v: number[]) => v.every((x, k) => bytes[i + k] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return '.png';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return '.webp';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return '.gif';
  if (at(0, 0x42, 0x4d)) return '.bmp';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return '.tif';
  if (at(4, 0x66, 0x74, 0x79, 0x70, 0x61, 0x76, 0x69, 0x66)) return '.avif';
  return '.jpg';
}
