/**
 * Untrusted image bytes -> pixels, for uploads and gallery files alike. The content decides
 * (sharp sniffs the format), never the file name; every failure is an ImageError carrying the
 * HTTP status the server answers with.
 */
import sharp, { type Metadata } from 'sharp';
import type { RgbImage } from '../core/rgb-image';
import { ImageDecodeError, refusedFormat, resizeForModel } from '../data/image';
import type { Preprocess } from '../core/preprocess';

export interface ImageLimits {
  /** Largest accepted encoded size in bytes. */
  maxBytes: number;
  /** Largest accepted width*height (decompression-bomb guard, checked from the header before decoding). */
  maxPixels: number;
  /** Wall-clock deadline of one decode in seconds: the server kills the decoder process there (lib/jig/decode-pool.ts), elsewhere libvips cancels at the next whole second; the image is refused (413). */
  decodeSeconds: number;
}

export const DEFAULT_LIMITS: ImageLimits = { maxBytes: 10 * 2 ** 20, maxPixels: 40e6, decodeSeconds: 5 };

export class ImageError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'ImageError';
  }
}

export interface DecodedImage {
  /** Pixels resized as the embedder's preprocess asks. */
  rgb: RgbImage;
  format: string;
  width: number;
  height: number;
}

const THUMB_SIZE = 160;

function reason(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

async function inspect(bytes: Uint8Array, limits: ImageLimits, what: string): Promise<Metadata> {
  if (bytes.length === 0) throw new ImageError(400, `${what}: empty body`);
  if (bytes.length > limits.maxBytes) throw new ImageError(413, `${what}: ${bytes.length} bytes exceeds the ${limits.maxBytes}-byte limit`);
  const refused = refusedFormat(bytes);
  if (refused) throw new ImageError(415, `${what}: ${refused}`);
  let meta: Metadata;
  try {
    // the header only, whatever its size: over our limit is 413 below, not sharp's own 268-Mpx refusal (415)
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new ImageError(415, `${what}: not a supported image (${reason(e)})`);
  }
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (pixels === 0) throw new ImageError(415, `${what}: image has no size`);
  if (pixels > limits.maxPixels) throw new ImageError(413, `${what}: ${meta.width}x${meta.height} exceeds the ${limits.maxPixels}-pixel limit`);
  return meta;
}

/** Checks and decodes one image to the embedder's input geometry (lib/data's resizeForModel, as training does). */
export async function decodeForEmbedder(bytes: Uint8Array, preprocess: Preprocess, limits: ImageLimits = DEFAULT_LIMITS, what = 'image'): Promise<DecodedImage> {
  const meta = await inspect(bytes, limits, what);
  try {
    const rgb = await resizeForModel(bytes, preprocess, { maxPixels: limits.maxPixels, decodeSeconds: limits.decodeSeconds, name: what });
    return { rgb, format: meta.format ?? 'unknown', width: meta.width ?? 0, height: meta.height ?? 0 };
  } catch (e) {
    if (e instanceof ImageDecodeError && e.timedOut) throw new ImageError(413, `${what}: ${meta.width}x${meta.height} ${meta.format ?? 'image'}: ${e.reason} (deadline: --decode-seconds)`);
    const why = e instanceof ImageDecodeError ? e.reason : reason(e);
    throw new ImageError(400, `${what}: corrupt or truncated ${meta.format ?? 'image'} (${why})`);
  }
}

/** A small JPEG for pages and reports (longer side `size`). */
export async function thumbnail(bytes: Uint8Array, size = THUMB_SIZE, limits: ImageLimits = DEFAULT_LIMITS): Promise<Buffer> {
  const refused = refusedFormat(bytes);
  if (refused) throw new ImageError(415, `thumbnail: ${refused}`);
  return sharp(bytes, { failOn: 'error', limitInputPixels: limits.maxPixels })
    .timeout({ seconds: Math.ceil(limits.decodeSeconds) })
    .rotate()
    .flatten({ background: '#ffffff' })
    .resize(size, size, { fit: 'inside' })
    .jpeg({ quality: 80 })
    .toBuffer();
}
