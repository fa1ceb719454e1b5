/**
 * `--model` for the jig: "demo" (default) is the training-free DemoEmbedder; a path ending in
 * .onnx is an exported model run by ONNX Runtime (lib/export), or by tfjs over the SavedModel
 * exported beside it when GUIE_ENGINE=tfjs. The returned fingerprint names the model's bytes and
 * the engine, so a gallery cache never outlives a changed model file.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import type { Embedder } from '../embedder';
import * as path from 'path';
import { createExportEmbedder, engineFromEnv } from '../export/onnx-embedder';
import { CLIP_MEAN, CLIP_STD } from '../model/vit-config';
import { DemoEmbedder } from './demo-embedder';

export interface JigModel {
  embedder: Embedder;
  fingerprint: string;
}

/**
 * The exported graph resizes and normalises by itself; `imageSize` only sets how big the jig's
 * decoded pixels are (bilinear squash, the host baseline, so the graph's own resize is a no-op).
 */
export async function loadJigModel(spec = 'demo', imageSize = 224): Promise<JigModel> {
  if (spec === 'demo') {
    const embedder = new DemoEmbedder();
    return { embedder, fingerprint: embedder.name };
  }
  if (!/\.onnx$/i.test(spec)) throw new Error(`--model ${spec}: expected "demo" or an exported .onnx file`);
  if (!fs.existsSync(spec)) throw new Error(`--model ${spec}: no such file`);
  const engine = engineFromEnv();
  const savedModelDir = path.join(path.dirname(spec), 'saved_model'); // `guie export` writes both side by side
  if (engine === 'tfjs' && !fs.existsSync(path.join(savedModelDir, 'saved_model.pb'))) throw new Error(`GUIE_ENGINE=tfjs: no SavedModel beside ${spec} (expected ${savedModelDir})`);
  const embedder = await createExportEmbedder(engine, { onnxFile: spec, savedModelDir }, { imageSize, mean: CLIP_MEAN, std: CLIP_STD, resize: 'bilinear' });
  return { embedder, fingerprint: `${engine}:${createHash('sha256').update(fs.readFileSync(spec)).digest('hex')}` };
}
