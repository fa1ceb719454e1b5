/**
 * One sample's image work, the same in a worker thread or in-process: encoded bytes -> decoded
 * RGB -> (augmented | CLIP-eval resized) uint8 HWC. Normalisation happens later, straight into the
 * batch buffer: a float32 copy per sample would cost more than the normalisation itself.
 */
import type { Preprocess } from '../core/preprocess';
import { augmentBytes, type AugmentConfig } from './augment';
import { decodeRgb, resizeForModel } from './image';

export interface TransformSpec {
  preprocess: Preprocess;
  /** null = evaluation preprocessing (no randomness). */
  augment: AugmentConfig | null;
  maxPixels: number;
}

export async function transformSample(bytes: Uint8Array, name: string, seed: number, spec: TransformSpec): Promise<Uint8Array> {
  const opts = { maxPixels: spec.maxPixels, name };
  const out = spec.augment ? await augmentBytes(bytes, seed, spec.augment, spec.preprocess, opts) : await resizeForModel(await decodeRgb(bytes, opts), spec.preprocess);
  return out.data;
}
