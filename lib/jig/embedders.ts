/**
 * `--model` for the jig: "demo" (default) is the training-free DemoEmbedder; anything else is
 * what lib/model-loader.ts loads (an exported .onnx or SavedModel, a run folder, a checkpoint).
 * The fingerprint names the model's bytes and the engine, so a gallery cache never outlives a changed model file.
 */
import type { Embedder } from '../embedder';
import { loadModel } from '../model-loader';
import type { TrainWhitening } from '../retrieval/train-whitening';
import { DemoEmbedder } from './demo-embedder';

export interface JigModel {
  embedder: Embedder;
  fingerprint: string;
  /** The backbone the model records (none for the demo descriptor): its untrained features are the report's baselines. */
  backbone?: string;
  /** The whitening fitted on its training features, when the model carries one (a baseline column). */
  trainWhitening?: TrainWhitening | null;
}

/** `imageSize`: only for exported models that record no preprocessing (lib/model-loader.ts). */
export async function loadJigModel(spec = 'demo', imageSize?: number): Promise<JigModel> {
  if (spec === 'demo') {
    const embedder = new DemoEmbedder();
    return { embedder, fingerprint: embedder.name };
  }
  const m = await loadModel(spec, { imageSize });
  return { embedder: m.embedder, fingerprint: m.fingerprint, backbone: m.backbone, trainWhitening: m.trainWhitening };
}
