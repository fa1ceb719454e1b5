/**
 * `--model` for `guie embed`, `guie eval` and the jig: an Embedder from what a user has on disk.
 *   model.onnx               an exported model, run by ONNX Runtime (GUIE_ENGINE=tfjs: the SavedModel beside it)
 *   <dir>/saved_model.pb     an exported SavedModel, run by tfjs over its graph
 *   <run folder>             `guie run`'s output: its export/model.onnx
 *   checkpoint | train dir   a training checkpoint: the backbone it records + its head, in tfjs
 * The fingerprint names the model's bytes and the engine, so cached embeddings never outlive a changed model.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Embedder } from './embedder';
import { createExportEmbedder, engineFromEnv } from './export/onnx-embedder';
import { exportedAbout } from './export/export-model';
import { backboneInfo, loadBackbone } from './model/backbones';
import { EmbeddingHead } from './model/heads';
import { createFeatureEmbedder } from './model/tfjs-embedder';
import { getVitConfig } from './model/vit-config';
import type { Preprocess } from './core/preprocess';
import { findTrainWhitening, readTrainWhitening, trainWhiteningOrWarn, type TrainWhitening } from './retrieval/train-whitening';
import { vitFileWeights } from './model/weights';
import { backboneTensors, checkpointHead, checkpointModel, loadCheckpoint, resolveCheckpointDir } from './train/checkpoint';

export interface LoadedModel {
  embedder: Embedder;
  /** Changes whenever the model's bytes or the engine change. */
  fingerprint: string;
  /** What was loaded, for logs. */
  description: string;
  /** The backbone it was built on, when the model records it (its untrained features are the baselines). */
  backbone?: string;
  /** The whitened PCA fitted on its training features (beside an export, or in the run that wrote a checkpoint); null: none kept. */
  trainWhitening: TrainWhitening | null;
}

const sha = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/**
 * An exported model. Its graph resizes and normalises by itself, from the preprocessing it records
 * (ONNX metadata or export.json); images are handed to it already at that geometry, as training saw them.
 * `imageSize` serves models that record none (older exports, other tools): a bilinear squash to that size.
 */
async function exported(onnxFile: string | null, savedModelDir: string, imageSize?: number): Promise<LoadedModel> {
  const engine = onnxFile ? engineFromEnv() : 'tfjs';
  if (engine === 'tfjs' && !fs.existsSync(path.join(savedModelDir, 'saved_model.pb'))) throw new Error(`GUIE_ENGINE=tfjs: no SavedModel beside ${onnxFile} (expected ${savedModelDir})`);
  const about = exportedAbout({ onnxFile: onnxFile ?? undefined, savedModelDir });
  const what = onnxFile ?? savedModelDir;
  if (!about && imageSize === undefined) throw new Error(`${what}: records no preprocessing (exported by an older version or another tool): re-export it with \`guie export\`, or pass --image-size N to feed it N x N bilinear squashes`);
  const preprocess: Preprocess = about?.preprocess ?? { imageSize: imageSize!, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bilinear' };
  const embedder = await createExportEmbedder(engine, { onnxFile: onnxFile ?? undefined, savedModelDir }, preprocess);
  const bytes = onnxFile ? fs.readFileSync(onnxFile) : Buffer.concat([fs.readFileSync(path.join(savedModelDir, 'saved_model.pb')), ...fs.readdirSync(path.join(savedModelDir, 'variables')).sort().map((f) => fs.readFileSync(path.join(savedModelDir, 'variables', f)))]);
  // `guie export` keeps it beside export.json: OUT/ for OUT/model.onnx and OUT/saved_model
  const trainWhitening = trainWhiteningOrWarn(() => readTrainWhitening(onnxFile ? path.dirname(onnxFile) : path.dirname(savedModelDir)));
  return { embedder, backbone: about?.backbone, trainWhitening, fingerprint: `${engine}:${sha(bytes)}:${JSON.stringify(preprocess)}`, description: `${what} (${about ? `${about.backbone}, ${preprocess.imageSize} px ${preprocess.resize}` : `${imageSize} px squash`}, ${engine})` };
}

/** A training checkpoint: the backbone it was trained on (recorded in the checkpoint) + its head, in tfjs. */
async function fromCheckpoint(dir: string): Promise<LoadedModel> {
  const ckpt = loadCheckpoint(dir);
  const meta = checkpointModel(ckpt);
  if (!meta) throw new Error(`${dir}: this checkpoint records no backbone (written by an older version); export it with \`guie export --backbone NAME --checkpoint ${dir}\` and embed the .onnx`);
  const tuned = backboneTensors(ckpt); // a backbone stage's checkpoint: the tuned backbone, not the packaged or downloaded one
  const vit = backboneInfo(meta.backbone).kind === 'clip-vit';
  const backbone = await loadBackbone(meta.backbone, tuned.size === 0 ? {} : vit ? { weights: vitFileWeights(getVitConfig(meta.backbone), tuned) } : { graphWeights: tuned });
  const { weight, bias } = checkpointHead(ckpt, backbone.featureDim, meta.backbone);
  const head = EmbeddingHead.fromArrays({ inDim: weight.shape[1], dim: weight.shape[0], dropout: 0 }, weight.values, bias.values);
  const crc = (JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { crc32c: number }).crc32c;
  const name = `tfjs:${meta.backbone}+dense${weight.shape[0]}:${crc.toString(16)}`;
  return { embedder: createFeatureEmbedder(backbone, head, { name }), backbone: meta.backbone, trainWhitening: trainWhiteningOrWarn(() => findTrainWhitening(dir, meta.featureKey)), fingerprint: name, description: `${dir} (${meta.backbone}${tuned.size > 0 ? ' fine-tuned' : ''} + head, tfjs)` };
}

/** `imageSize`: only for exported models that record no preprocessing. */
export async function loadModel(spec: string, opts: { imageSize?: number } = {}): Promise<LoadedModel> {
  const abs = path.resolve(spec);
  const st = fs.statSync(abs, { throwIfNoEntry: false });
  if (!st) throw new Error(`--model ${spec}: does not exist (give an exported model.onnx, a saved_model folder, a run folder or a checkpoint)`);
  const size = opts.imageSize;
  if (st.isFile()) {
    if (!/\.onnx$/i.test(abs)) throw new Error(`--model ${spec}: a file must be an exported .onnx model`);
    return exported(abs, path.join(path.dirname(abs), 'saved_model'), size); // `guie export` writes both side by side
  }
  if (fs.existsSync(path.join(abs, 'saved_model.pb'))) return exported(null, abs, size);
  const runOnnx = path.join(abs, 'export', 'model.onnx');
  if (fs.existsSync(runOnnx)) return exported(runOnnx, path.join(abs, 'export', 'saved_model'), size);
  return fromCheckpoint(resolveCheckpointDir(abs));
}
