/**
 * The one interface behind every way of embedding images (tfjs model, ONNX Runtime session,
 * loaded SavedModel): evaluation, indexing, training validation and the jig take any Embedder.
 */
import type { RgbImage } from './core/rgb-image';
import type { Preprocess } from './core/preprocess';

export interface Embedder {
  readonly name: string;
  /** Output width (<= 64 for a GUIE submission). */
  readonly dim: number;
  /** How this embedder wants pixels prepared; callers may pre-resize with it to batch images of mixed sizes. */
  readonly preprocess: Preprocess;
  /** n images -> n*dim row-major float32, each row L2-normalised (except a baseline's raw backbone features: lib/retrieval/baseline-backbone.ts). */
  embed(images: RgbImage[]): Promise<Float32Array>;
  dispose(): void;
}
