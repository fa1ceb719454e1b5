/**
 * The Embedder (lib/embedder.ts) for a tfjs ViT + embedding head: resize with the backbone's own
 * preprocessing (lib/data/image.ts), normalise, forward, L2. Images already at the model size are
 * used as they are.
 */
import * as tf from '@tensorflow/tfjs';
import { normalizeRgb, resizeForModel } from '../data/image';
import type { Embedder, RgbImage } from '../embedder';
import { l2Normalize, type EmbeddingHead } from './heads';
import type { Vit } from './vit';
import { featureDim } from './vit-config';

export interface TfjsEmbedderOptions {
  name?: string;
  /** Images per forward pass. */
  batchSize?: number;
}

/** `head` null embeds with the L2-normalised backbone features (zero-shot baselines). */
export function createTfjsEmbedder(vit: Vit, head: EmbeddingHead | null, opts: TfjsEmbedderOptions = {}): Embedder {
  const pp = vit.config.preprocess;
  const size = pp.imageSize;
  const dim = head ? head.config.dim : featureDim(vit.config);
  const batchSize = opts.batchSize ?? 8;
  return {
    name: opts.name ?? `tfjs:${vit.config.name}${head ? `+dense${dim}` : ''}`,
    dim,
    preprocess: pp,
    async embed(images: RgbImage[]): Promise<Float32Array> {
      const out = new Float32Array(images.length * dim);
      for (let start = 0; start < images.length; start += batchSize) {
        const batch = images.slice(start, start + batchSize);
        const pixels = new Float32Array(batch.length * size * size * 3);
        for (let i = 0; i < batch.length; i++) {
          const img = batch[i].width === size && batch[i].height === size ? batch[i] : await resizeForModel(batch[i], pp);
          normalizeRgb(img, pp, pixels, i * size * size * 3);
        }
        const y = tf.tidy(() => {
          const feats = vit.forward(tf.tensor4d(pixels, [batch.length, size, size, 3]), false);
          return head ? head.forward(feats, false) : l2Normalize(feats);
        });
        out.set(await y.data(), start * dim);
        y.dispose();
      }
      return out;
    },
    dispose(): void {
      vit.dispose();
      head?.dispose();
    },
  };
}
