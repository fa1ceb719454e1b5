/** A packaged CNN as a live tfjs graph model, read from its cache (built first if needed), optionally with fine-tuned weights. */
import * as tf from '@tensorflow/tfjs';
import { replaceGraphWeights } from '../cnn-graph';
import { ensureCache, type CacheLog, type CachedModel } from './cnn-cache';
import type { PackagedCnnSpec } from './registry';

export interface LoadedCnn {
  model: tf.GraphModel;
  cache: CachedModel;
  /** The weights the model runs with: the cache's, or a fine-tuned copy. */
  weightData: ArrayBuffer;
  features(x: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

/** Loads the cached graph model into tfjs (building the cache first if needed). */
export async function loadPackagedCnn(spec: PackagedCnnSpec, dir: string, log?: CacheLog, tuned?: ReadonlyMap<string, { values: Float32Array }>): Promise<LoadedCnn> {
  const cache = await ensureCache(spec, dir, log);
  const weightSpecs = cache.json.weightsManifest.flatMap((g) => g.weights);
  const cached = cache.weights.buffer.slice(cache.weights.byteOffset, cache.weights.byteOffset + cache.weights.byteLength) as ArrayBuffer;
  const weightData = tuned && tuned.size > 0 ? replaceGraphWeights(cache.json, cached, tuned) : cached;
  const model = await tf.loadGraphModel(tf.io.fromMemory({ ...cache.json, weightSpecs, weightData } as tf.io.ModelArtifacts));
  const size = spec.preprocess.imageSize;
  const out = cache.meta.outputNode;
  return {
    model,
    cache,
    weightData,
    features: (x) => {
      if (x.shape[1] !== size || x.shape[2] !== size || x.shape[3] !== 3) throw new Error(`${spec.name}: input [${x.shape}] must be NHWC [B, ${size}, ${size}, 3]`);
      return tf.tidy(() => model.execute(x, out) as tf.Tensor2D);
    },
    dispose: () => model.dispose(),
  };
}
