/**
 * The untrained backbone a model was built on, as the feature extractor of its training-free
 * baselines (lib/retrieval/baselines.ts): rows are its raw features (not L2-normalised, as the
 * main job's feature cache holds them), with a cache key naming everything those rows depend on.
 * A backbone that cannot run offline (unknown name, ViT weights not downloaded) is a reason, not an error.
 */
import * as fs from 'fs';
import { PIXELS_VERSION } from '../data/image';
import { initBackend } from '../device';
import type { Embedder } from '../embedder';
import { backboneInfo, loadBackbone, weightsPath } from '../model/backbones';
import { createFeatureEmbedder } from '../model/tfjs-embedder';
import type { TrainWhitening } from './train-whitening';

export interface BaselineBackbone {
  name: string;
  /** Raw features of the packaged (or downloaded) weights, never a fine-tuned copy. */
  embedder: Embedder;
  /** Names backbone, weights, preprocessing and pixel code: cached baseline features are keyed by it. */
  key: string;
  /** The whitening fitted on the model's training features, when the model carries one of this backbone. */
  trainWhitening: TrainWhitening | null;
}

/** The backbone `name` as a raw-feature extractor, or why it cannot be. */
export async function openBaselineBackbone(name: string | undefined, opts: { cacheDir?: string; trainWhitening?: TrainWhitening | null } = {}): Promise<BaselineBackbone | { reason: string }> {
  if (!name) return { reason: 'the model records no backbone (exported by an older version or another tool)' };
  let kind: string;
  try {
    kind = backboneInfo(name).kind;
  } catch (e) {
    return { reason: (e as Error).message };
  }
  let weights = 'packaged';
  if (kind === 'clip-vit') {
    const file = weightsPath(name);
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st) return { reason: `backbone ${name} needs its weights offline and there are none at ${file} (\`guie download-weights --model ${name}\`)` };
    weights = `${file}:${st.size}:${st.mtimeMs}`;
  }
  await initBackend(); // the fastest tfjs backend: a CLI path that only ran ONNX Runtime so far has none chosen
  const backbone = await loadBackbone(name, { cacheDir: opts.cacheDir, weightsFile: kind === 'clip-vit' ? weightsPath(name) : undefined });
  const pp = backbone.preprocess;
  const key = `features=${name}|weights=${weights}|pixels=${pp.imageSize}px,${pp.resize},mean${pp.mean.join(',')},std${pp.std.join(',')},v${PIXELS_VERSION}`;
  const tw = opts.trainWhitening ?? null;
  const trainWhitening = tw && tw.backbone === name && tw.pca.dim === backbone.featureDim ? tw : null;
  return { name, embedder: createFeatureEmbedder(backbone, null, { name: `raw ${name}`, raw: true }), key, trainWhitening };
}
