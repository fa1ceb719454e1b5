/**
 * `guie export` and `guie verify-submission`: the inference graph -> SavedModel + ONNX +
 * submission.zip, and the check of a zip. Notebook cells and the CLI call these same functions.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { replaceDirAtomic, writeJsonAtomic } from '../util/atomic';
import { PROJECT_ROOT } from '../util/paths';
import type { Config } from '../config';
import { weightsPath } from '../model/backbones';
import { buildCacheContents, type CacheMeta } from '../model/cnn/cnn-cache';
import { PACKAGED_CNNS } from '../model/cnn/registry';
import { glorotUniform } from '../model/heads';
import { replaceGraphWeights } from '../model/cnn-graph';
import type { VitConfig } from '../model/vit-config';
import type { Preprocess } from '../core/preprocess';
import { baseVitName, getVitConfig } from '../model/vit-config';
import { loadVitWeights, vitFileWeights } from '../model/weights';
import { backboneTensors, checkpointHead, checkpointModel, loadCheckpoint, resolveCheckpointDir } from '../train/checkpoint';
import type { Graph, GraphAbout, HostTensor } from './graph';
import { f32 } from './graph';
import type { NamedWeights } from './inference-graph';
import { clipInferenceGraph, graphModelInferenceGraph } from './inference-graph';
import { readOnnxAbout, writeOnnx } from './onnx';
import { randomClipWeights } from './random-weights';
import { Rng } from '../util/random';
import { writeSavedModel, type SavedModelWriteResult } from './savedmodel';
import { writeSubmissionZip } from './submission';
import { formatVerifyReport, verifySubmission, type VerifyReport } from './verify';
import { findTrainWhitening, TRAIN_WHITENING, trainWhiteningOrWarn, writeTrainWhitening, type TrainWhitening } from '../retrieval/train-whitening';

/** lib/model's `namedWeights()` (tf.Tensors) -> host tensors for the graph builder. */
export function namedWeightsFromTf(weights: Map<string, tf.Tensor>): NamedWeights {
  const out: NamedWeights = new Map();
  for (const [k, t] of weights) out.set(k, f32(t.dataSync() as Float32Array, t.shape) as HostTensor);
  return out;
}

export interface ExportResult {
  outDir: string;
  savedModel: SavedModelWriteResult;
  onnx?: { file: string; bytes: number; externalBytes: number };
  zip?: { file: string; bytes: number };
}

/** Beside the SavedModel: what the model is (backbone, preprocessing), for loaders of the SavedModel folder. */
export const EXPORT_INFO = 'export.json';

/**
 * Writes OUT/saved_model/, OUT/model.onnx (its metadata records backbone and preprocessing),
 * OUT/export.json and OUT/submission.zip. The SavedModel folder is replaced atomically, so a
 * crash never leaves a half-written model behind.
 */
export async function exportModel(graph: Graph, outDir: string, opts: { onnx?: boolean; zip?: boolean; whitening?: TrainWhitening | null } = {}): Promise<ExportResult> {
  fs.mkdirSync(outDir, { recursive: true });
  const smDir = path.join(outDir, 'saved_model');
  let savedModel!: SavedModelWriteResult;
  replaceDirAtomic(smDir, (tmp) => {
    savedModel = { ...writeSavedModel(tmp, graph), dir: smDir };
  });
  if (graph.about) writeJsonAtomic(path.join(outDir, EXPORT_INFO), { ...graph.about, input: 'uint8 [batch, height, width, 3], any size', outputs: Object.keys(graph.outputs) });
  // the training-data whitening rides beside the model (not in it): `guie eval` scores it as a baseline
  if (opts.whitening) writeTrainWhitening(outDir, opts.whitening);
  else fs.rmSync(path.join(outDir, TRAIN_WHITENING), { force: true });
  const result: ExportResult = { outDir, savedModel };
  if (opts.onnx ?? true) {
    const file = path.join(outDir, 'model.onnx');
    result.onnx = { file, ...writeOnnx(file, graph) };
  }
  if (opts.zip ?? true) {
    const file = path.join(outDir, 'submission.zip');
    result.zip = { file, bytes: (await writeSubmissionZip(smDir, file)).bytes };
  }
  return result;
}

/** What an exported model records about itself: ONNX metadata_props, else export.json beside its SavedModel. */
export function exportedAbout(model: { onnxFile?: string; savedModelDir?: string }): GraphAbout | null {
  if (model.onnxFile) {
    const about = readOnnxAbout(model.onnxFile);
    if (about) return about;
  }
  const info = model.savedModelDir ? path.join(path.dirname(path.resolve(model.savedModelDir)), EXPORT_INFO) : null;
  if (info && fs.existsSync(info)) return JSON.parse(fs.readFileSync(info, 'utf8')) as GraphAbout;
  return null;
}

export interface ExportCommandOptions {
  /** A packaged CNN (lib/model/cnn/registry.ts) or a ViT config name (lib/model/vit-config.ts), each a file in lib/model/model_configs/; default: the checkpoint's, else mobilenet_v2_140. */
  backbone?: string;
  out: string;
  /** CLIP ViTs: OpenCLIP/HF/bare safetensors; without it the ViT gets random weights (offline path). */
  vitWeights?: string;
  /** Training checkpoint (or a run / train folder holding one) whose head is exported; else a random head. */
  checkpoint?: string;
  randomSeed?: number;
  /** Where ViT weights are looked for when vitWeights is not given (default: the loaded config's paths.weights). */
  weightsDir?: string;
  headDim?: number;
  /** CLIP ViTs: in-graph resize; default the backbone's own (CLIP's shorter-side bicubic + centre crop), or 'bilinear' (host baseline). */
  resize?: Preprocess['resize'];
  onnx?: boolean;
  verify?: boolean;
}

/** A checkpoint's head (lib/train/checkpoint.ts checkpointHead) as the graph builder takes it. */
function checkpointGraphHead(dir: string, inDim: number, backbone: string): NamedWeights {
  const { weight, bias } = checkpointHead(loadCheckpoint(dir), inDim, backbone);
  return new Map([
    ['head.proj.weight', f32(weight.values, weight.shape)],
    ['head.proj.bias', f32(bias.values, bias.shape)],
  ]);
}

function randomHead(inDim: number, dim: number, seed: number): NamedWeights {
  return new Map([
    ['head.proj.weight', f32(glorotUniform(new Rng(seed + 1), dim, inDim), [dim, inDim])],
    ['head.proj.bias', f32(new Float32Array(dim), [dim])],
  ]);
}

/** The inference graph for any supported backbone: packaged graph-model CNN or CLIP ViT. */
/** The training whitening of the run that wrote `checkpoint`, when it was fitted on this backbone's features. */
function runWhitening(checkpoint: string | undefined, backbone: string, featureDim: number): TrainWhitening | null {
  const w = checkpoint ? trainWhiteningOrWarn(() => findTrainWhitening(checkpoint, checkpointModel(loadCheckpoint(checkpoint))?.featureKey)) : null;
  return w && w.backbone === backbone && w.pca.dim === featureDim ? w : null;
}

export async function buildExportGraph(opts: Omit<ExportCommandOptions, 'out' | 'onnx' | 'verify'>): Promise<{ graph: Graph; preprocess: Preprocess; backbone: string; whitening: TrainWhitening | null }> {
  const seed = opts.randomSeed ?? 0;
  const checkpoint = opts.checkpoint ? resolveCheckpointDir(opts.checkpoint) : undefined;
  const recorded = checkpoint ? checkpointModel(loadCheckpoint(checkpoint))?.backbone : undefined;
  const o = { ...opts, checkpoint, backbone: opts.backbone ?? recorded ?? 'mobilenet_v2_140' };
  if (recorded && opts.backbone && opts.backbone !== recorded) throw new Error(`${checkpoint}: this head was trained on ${recorded} features, not ${opts.backbone} (leave --backbone out to use the checkpoint's)`);
  const cnn = PACKAGED_CNNS[o.backbone];
  if (cnn) {
    const head = o.checkpoint ? checkpointGraphHead(o.checkpoint, cnn.featureDim, o.backbone) : randomHead(cnn.featureDim, o.headDim ?? 64, seed);
    const cache = await buildCacheContents(cnn);
    const packaged = cache.weights.buffer.slice(cache.weights.byteOffset, cache.weights.byteOffset + cache.weights.byteLength) as ArrayBuffer;
    // a backbone stage's checkpoint carries its tuned last blocks
    const tuned = o.checkpoint ? backboneTensors(loadCheckpoint(o.checkpoint)) : new Map();
    const weightData = tuned.size > 0 ? replaceGraphWeights(cache.json, packaged, tuned) : packaged;
    // the cache is a graph model (layers models are converted to one); its metadata names the feature node
    const meta = (cache.json.userDefinedMetadata as { guie?: CacheMeta } | undefined)?.guie;
    if (!meta) throw new Error(`backbone "${o.backbone}": packaged model cache carries no guie metadata (feature node unknown)`);
    const graph = graphModelInferenceGraph({ name: cnn.name, model: cache.json, weightData, outputNode: meta.outputNode, featureDim: cnn.featureDim, preprocess: cnn.preprocess }, head);
    return { graph, preprocess: cnn.preprocess, backbone: o.backbone, whitening: runWhitening(o.checkpoint, o.backbone, cnn.featureDim) };
  }
  const cfg: VitConfig = getVitConfig(o.backbone);
  const inDim = cfg.outputDim ?? cfg.width;
  let weights: NamedWeights;
  const tuned = o.checkpoint ? backboneTensors(loadCheckpoint(o.checkpoint)) : new Map();
  // a backbone stage's checkpoint carries the tuned ViT; else --vit-weights, the one weights location (paths.weights), or random weights (the offline path, said out loud)
  const expected = o.weightsDir ? path.resolve(o.weightsDir, `${baseVitName(o.backbone)}.safetensors`) : weightsPath(o.backbone);
  const weightsFile = tuned.size > 0 ? undefined : (o.vitWeights ?? (fs.existsSync(expected) ? expected : undefined));
  if (tuned.size > 0) {
    const file = vitFileWeights(cfg, tuned);
    weights = namedWeightsFromTf(file);
    tf.dispose([...file.values()]);
  } else if (weightsFile) {
    const loaded = loadVitWeights(weightsFile, cfg);
    weights = namedWeightsFromTf(loaded.weights);
    tf.dispose([...loaded.weights.values()]);
  } else {
    console.warn(`export: no weights for ${o.backbone} at ${expected} and no --vit-weights: random ViT weights (seed ${seed})`);
    weights = randomClipWeights(cfg, o.headDim ?? 64, seed);
  }
  for (const [k, v] of o.checkpoint ? checkpointGraphHead(o.checkpoint, inDim, o.backbone) : weights.has('head.proj.weight') ? [] : randomHead(inDim, o.headDim ?? 64, seed)) weights.set(k, v);
  const preprocess: Preprocess = { ...cfg.preprocess, ...(o.resize ? { resize: o.resize } : {}) };
  return { graph: clipInferenceGraph(cfg, weights, { preprocess }), preprocess, backbone: o.backbone, whitening: runWhitening(o.checkpoint, o.backbone, inDim) };
}

/** Where notebook 03 leaves its best head checkpoint (DEBUG run). */
export function notebookCheckpoint(config: Config): string {
  return path.resolve(PROJECT_ROOT, config.paths.outputs, 'train-debug', 'checkpoints', 'best');
}

/**
 * What notebooks 05-07 export: the default backbone with the head notebook 03 trained (a seeded
 * random head until 03 has run), or a CLIP ViT config with random weights when `vit` is given.
 */
export async function notebookExportGraph(config: Config, vit?: string): Promise<{ graph: Graph; preprocess: Preprocess; source: string; whitening: TrainWhitening | null }> {
  if (vit) return { ...(await buildExportGraph({ backbone: vit })), source: `${vit} (random weights)` };
  const ckpt = notebookCheckpoint(config);
  const trained = fs.existsSync(path.join(ckpt, 'state.json'));
  const built = await buildExportGraph({ backbone: config.backbone, checkpoint: trained ? ckpt : undefined });
  return { ...built, source: `${config.backbone} + ${trained ? `head trained in notebook 03 (${path.relative(PROJECT_ROOT, ckpt)})` : 'random head (run notebook 03 first)'}` };
}

export async function exportCommand(o: ExportCommandOptions): Promise<{ result: ExportResult; report?: VerifyReport }> {
  const { graph, whitening } = await buildExportGraph(o);
  const result = await exportModel(graph, o.out, { onnx: o.onnx ?? true, whitening });
  const report = o.verify && result.zip ? await verifySubmission(result.zip.file) : undefined;
  return { result, report };
}

export function formatExportResult(r: ExportResult): string {
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const s = r.savedModel;
  return [
    `SavedModel: ${s.dir} (saved_model.pb ${mib(s.bytes.graph)}, variables ${mib(s.bytes.variables)}, ${s.variableCount} variables, ${s.parameterCount.toLocaleString('en-US')} parameters)`,
    r.onnx ? `ONNX:       ${r.onnx.file} (${mib(r.onnx.bytes)}${r.onnx.externalBytes ? ` + external data ${mib(r.onnx.externalBytes)}` : ''})` : '',
    r.zip ? `submission: ${r.zip.file} (${mib(r.zip.bytes)})` : '',
  ].filter(Boolean).join('\n');
}

export async function verifyCommand(zip: string, opts: { maxBytes?: number } = {}): Promise<VerifyReport> {
  if (!fs.existsSync(zip)) throw new Error(`${zip}: no such file`);
  return verifySubmission(zip, opts);
}

export { formatVerifyReport };
