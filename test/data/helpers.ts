/** Small generated images and temp dirs for data tests (no binary fixtures). */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `guie-${prefix}-`));
}

/** A deterministic gradient image (so crops and flips change pixels). */
export function gradientRgb(width: number, height: number, seed = 0): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (x * 255) / Math.max(1, width - 1);
      data[o + 1] = (y * 255) / Math.max(1, height - 1);
      data[o + 2] = (seed * 37 + x * y) % 256;
    }
  }
  return data;
}

export function jpeg(width: number, height: number, seed = 0, quality = 90): Promise<Buffer> {
  return sharp(gradientRgb(width, height, seed), { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
}

export function png(width: number, height: number, seed = 0): Promise<Buffer> {
  return sharp(gradientRgb(width, height, seed), { raw: { width, height, channels: 3 } }).png().toBuffer();
}
