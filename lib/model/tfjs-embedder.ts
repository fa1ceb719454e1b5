/**
 * The Embedder (lib/embedder.ts) for a tfjs ViT + embedding head: resize with the backbone's own
 * preprocessing (lib/data/image.ts), normalise, forward, L2. Images already at the model size are
 * used as they are.
 */
import * as tf from '@tensorflow/tfjs';
import { normalizeRgb, resizeForModel } from '../data/image';
import type { Embedder } from '../embedder';
import type { RgbImage } from '../core/rgb-image';
import { l2NormalizeTensor, type EmbeddingHead } from './heads';
import type { Vit } from './vit';
import { featureDim } from './vit-config';
import type { Preprocess } from '../core/preprocess';

export interface TfjsEmbedderOptions {
  name?: string;
  /** Images per forward pass. */
  batchSize?: number;
  /** Without a head: rows are the backbone's features as they are, not L2-normalised (what the PCA baselines fit on, as on a feature cache). */
  raw?: boolean;
}

/** Any frozen feature extractor: normalised NHWC pixels -> [n, featureDim] features. */
export interface FeatureExtractor {
  name: string;
  preprocess: Preprocess;
  featureDim: number;
  features(x: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

/** `head` null embeds with the L2-normalised backbone features (zero-shot baselines). */
export function createTfjsEmbedder(vit: Vit, head: EmbeddingHead | null, opts: TfjsEmbedderOptions = {}): Embedder {
  const backbone: FeatureExtractor = {
    name: vit.config.name,
    preprocess: vit.config.preprocess,
    featureDim: featureDim(vit.config),
    features: (x) => vit.forward(x, false),
    dispose: () => vit.dispose(),
  };
  return createFeatureEmbedder(backbone, head, opts);
}

/** The Embedder for backbone features (+ head): resize per the backbone's preprocessing, normalise, forward, L2. */
export function createFeatureEmbedder(backbone: FeatureExtractor, head: EmbeddingHead | null, opts: TfjsEmbedderOptions = {}): Embedder {
  const pp = backbone.preprocess;
  const size = pp.imageSize;
  const dim = head ? head.config.dim : backbone.featureDim;
  const batchSize = opts.batchSize ?? 8;
  return {
    name: opts.name ?? `tfjs:${backbone.name}${head ? `+dense${dim}` : ''}`,
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
          const feats = backbone.features(tf.tensor4d(pixels, [batch.length, size, size, 3]));
          return head ? head.forward(feats) : opts.raw ? feats : l2NormalizeTensor(feats);
        });
        out.set(await y.data(), start * dim);
        y.dispose();
      }
      return out;
    },
    dispose(): void {
      backbone.dispose();
      head?.dispose();
    },
  };
}
