/**
 * The two calls most users need, in the spirit of open_clip's `create_model_and_transforms` (a backbone comes
 * with the preprocessing it was trained with) and transformers.js' `pipeline()` (one call from a model name to
 * "give me images, get vectors"). Everything else is a stage of its own, exported from lib/index.ts.
 */
import * as fs from 'fs';
import { initBackend } from './device';
import type { Preprocess } from './core/preprocess';
import type { RgbImage } from './core/rgb-image';
import { resizeForModel } from './data/image';
import type { Embedder } from './embedder';
import { loadModel } from './model-loader';
import { listBackbones, loadBackbone, type Backbone, type LoadBackboneOptions } from './model/backbones';
import { createFeatureEmbedder } from './model/tfjs-embedder';

export interface ModelAndTransforms {
  backbone: Backbone;
  /** The backbone's own preprocessing (size, resize rule, mean/std), as its config records it. */
  preprocess: Preprocess;
  /** Encoded image bytes -> the backbone's input pixels (decode + resize + crop, Pillow's resampling bit for bit). */
  transform(image: Uint8Array): Promise<RgbImage>;
}

/**
 * A named backbone with its preprocessing (`guie summary --list` names them).
 *
 * @example
 * ```ts
 * import { createModelAndTransforms } from 'guie-ts';
 * const { backbone, preprocess } = await createModelAndTransforms('test-tiny', { randomSeed: 1 });
 * console.log(backbone.featureDim, preprocess.imageSize); // 32 32
 * backbone.dispose();
 * ```
 */
export async function createModelAndTransforms(name: string, opts: LoadBackboneOptions = {}): Promise<ModelAndTransforms> {
  await initBackend();
  const backbone = await loadBackbone(name, opts);
  const preprocess = backbone.preprocess;
  return { backbone, preprocess, transform: (image) => resizeForModel(image, preprocess) };
}

/** Images in, one unit vector per image out. */
export interface ImageEmbeddingPipeline {
  readonly embedder: Embedder;
  /** File paths or encoded bytes -> one L2-normalised row each (embedder.dim floats). */
  (images: ReadonlyArray<string | Uint8Array>): Promise<Float32Array[]>;
  dispose(): void;
}

/**
 * `pipeline('image-embedding', model)`: `model` is what `guie embed --model` takes (an exported model.onnx, a
 * saved_model folder, a `guie run` folder, a training checkpoint) or a backbone name (its untrained features).
 *
 * @example
 * ```ts
 * import { pipeline } from 'guie-ts';
 * import sharp from 'sharp';
 * const embed = await pipeline('image-embedding', 'mobilenet_v2_140');
 * const red = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c00' } }).png().toBuffer();
 * const [v] = await embed([red]);
 * console.log(v.length, Math.abs(Math.hypot(...v) - 1) < 1e-5); // 1792 true
 * embed.dispose();
 * ```
 */
export async function pipeline(task: 'image-embedding', model: string): Promise<ImageEmbeddingPipeline> {
  if (task !== 'image-embedding') throw new Error(`pipeline: unknown task "${String(task)}" (there is one: "image-embedding")`);
  await initBackend();
  const embedder = isBackboneName(model) ? createFeatureEmbedder(await loadBackbone(model), null, { name: model }) : (await loadModel(model)).embedder;
  const run = async (images: ReadonlyArray<string | Uint8Array>): Promise<Float32Array[]> => {
    const pixels = await Promise.all(images.map((im) => resizeForModel(typeof im === 'string' ? fs.readFileSync(im) : im, embedder.preprocess, { name: typeof im === 'string' ? im : 'image' })));
    const flat = await embedder.embed(pixels);
    return pixels.map((_, i) => flat.slice(i * embedder.dim, (i + 1) * embedder.dim));
  };
  return Object.assign(run, { embedder, dispose: () => embedder.dispose() });
}

/** A backbone's name (and not a file or folder of that name). */
const isBackboneName = (model: string): boolean => listBackbones({ includeTest: true }).some((b) => b.name === model) && !fs.existsSync(model);
