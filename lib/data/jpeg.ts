/**
 * The training pipeline's JPEG codec: libjpeg-turbo's TurboJPEG API through @julusian/jpeg-turbo
 * (prebuilt binaries inside the npm package). Its decoder uses the fast integer IDCT, as
 * tf.io.decode_jpeg does by default, so decoded pixels equal TensorFlow's bit for bit, at 0.6-0.8
 * CPU-ms for a 512 px photo against libvips' 1.6-1.9 (sharp's per-call overhead dominates small images).
 * Only plain 8-bit YCbCr/gray/RGB JPEGs without an ICC profile take this path; anything else
 * (CMYK, 12-bit, arithmetic coding, colour profiles to apply, corrupt data) is the caller's to
 * decode with sharp, so colour handling and error reports stay those of lib/data/image.ts.
 */
import type { RgbImage } from '../core/rgb-image';

/** What the markers before the scan say. */
export interface JpegHeader {
  width: number;
  height: number;
  /** 1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK. */
  components: number;
  /** Sample precision in bits (8, or 12 in rare medical/scientific files). */
  precision: number;
  /** SOF marker: 0xc0 baseline, 0xc1 extended, 0xc2 progressive, 0xc9-0xcb arithmetic, 0xc3 lossless... */
  frame: number;
  /** An APP2 ICC_PROFILE segment: sharp converts such images to sRGB, TurboJPEG would not. */
  icc: boolean;
}

const isFrameMarker = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** Reads the JPEG markers up to the first scan; null when `bytes` is not a well-formed JPEG header. */
export function readJpegHeader(bytes: Uint8Array): JpegHeader | null {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  let icc = false;
  let frame: Omit<JpegHeader, 'icc'> | null = null;
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i += 1; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2; // markers without a length
      continue;
    }
    const length = (bytes[i + 2] << 8) | bytes[i + 3];
    const body = i + 4;
    if (length < 2 || i + 2 + length > bytes.length) return null;
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end of image
    if (marker === 0xe2 && length >= 14 && String.fromCharCode(...bytes.subarray(body, body + 11)) === 'ICC_PROFILE') icc = true;
    if (isFrameMarker(marker) && frame === null && length >= 8) {
      frame = {
        precision: bytes[body],
        height: (bytes[body + 1] << 8) | bytes[body + 2],
        width: (bytes[body + 3] << 8) | bytes[body + 4],
        components: bytes[body + 5],
        frame: marker,
      };
    }
    i += 2 + length;
  }
  return frame && frame.width > 0 && frame.height > 0 ? { ...frame, icc } : null;
}

/** Whether TurboJPEG decodes this header to the same colours sharp would (no colour management involved). */
export function turboDecodable(h: JpegHeader): boolean {
  return h.precision === 8 && (h.components === 1 || h.components === 3) && h.frame >= 0xc0 && h.frame <= 0xc2 && !h.icc;
}

interface TurboJpeg {
  FORMAT_RGB: number;
  SAMP_420: number;
  decompressSync(image: Buffer, options: { format: number }): { data: Buffer; width: number; height: number };
  compressSync(raw: Buffer, options: { format: number; width: number; height: number; quality: number; subsampling: number }): Buffer;
}

let turbo: TurboJpeg | null | undefined;
let turboError = '';

/** The TurboJPEG binding, or null (with `turboUnavailableReason()`) where its prebuilt binary does not load. */
export function turboJpeg(): TurboJpeg | null {
  if (turbo === undefined) {
    try {
      // Loaded lazily: a platform without a prebuilt binary still works, through sharp.
      turbo = require('@julusian/jpeg-turbo') as TurboJpeg;
    } catch (e) {
      turbo = null;
      turboError = (e as Error).message;
    }
  }
  return turbo;
}

export const turboUnavailableReason = (): string => turboError;

const asBuffer = (b: Uint8Array) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));

/**
 * Decodes a plain JPEG with TurboJPEG (fast IDCT, tf.io.decode_jpeg's pixels); null when this path
 * does not apply (not such a JPEG, over `maxPixels`, binding missing, or TurboJPEG reports any
 * error or warning) and the caller should use sharp.
 */
export function decodeJpegTurbo(bytes: Uint8Array, maxPixels: number): RgbImage | null {
  const tj = turboJpeg();
  const h = tj ? readJpegHeader(bytes) : null;
  if (!tj || !h || !turboDecodable(h) || h.width * h.height > maxPixels) return null;
  try {
    const out = tj.decompressSync(asBuffer(bytes), { format: tj.FORMAT_RGB });
    return { data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length), width: out.width, height: out.height };
  } catch {
    return null;
  }
}

/** RGB -> baseline 4:2:0 JPEG bytes with TurboJPEG (null where the binding is missing). */
export function encodeJpegTurbo(img: RgbImage, quality: number): Buffer | null {
  const tj = turboJpeg();
  if (!tj) return null;
  return tj.compressSync(asBuffer(img.data), { format: tj.FORMAT_RGB, width: img.width, height: img.height, quality, subsampling: tj.SAMP_420 });
}
