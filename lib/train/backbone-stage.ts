/**
 * The reference recipe's second stage: after the head has trained on cached features, the backbone
 * itself is tuned at the backbone lr, the head frozen ("head-locking", 1st place) or at its own lr.
 *   CLIP ViTs: every block, on augmented images from the worker pool, with layer-wise lr decay; the
 *   output projection frozen (or dropped altogether: backbone "<name>.noproj").
 *   Packaged CNNs: the last `backboneBlocks` blocks, on the cached activations that feed them (a
 *   CPU-sized fine-tune: the frozen prefix runs once per image, like the feature cache).
 * Same loop, checkpoints and resume; the checkpoints hold the tuned backbone beside the head, so
 * export, evaluation and embedding take both.
 */
import * as path from 'path';
import { DEFAULT_AUGMENT } from '../data/augment';
import type { Config } from '../config';
import type { DataSet } from '../data/dataset';
import type { DataSplit } from '../data/split';
import type { Backbone as ModelBackbone } from '../model/backbones';
import { disposeCnnGraph } from '../model/cnn-graph';
import { checkpointHead, loadCheckpoint, type CheckpointModel } from './checkpoint';
import { suffixBackbone } from './cnn-backbone';
import { imageDataset, type ImageDataset } from './image-dataset';
import { train } from './loop';
import { type Dataset, type TrainResult } from './train-config';
import { checkpointsDir, loadWeightsInto } from './run-checkpoints';
import { createModel, type Backbone, type HeadConfig, type HeadWeights, type TrainModel } from './model';
import { cutActivations, rowsDataset, trainLabels } from './prepare';
import { fitBatch, trainConfigFrom } from './settings';
import { embedAll } from './validate';
import { vitBackbone } from './vit-backbone';

/** A head checkpoint's weights as createModel takes them (lib/train/checkpoint.ts checkpointHead reads them). */
export function headWeightsFrom(checkpointDir: string, head: HeadConfig): HeadWeights {
  const { weight, bias, margin } = checkpointHead(loadCheckpoint(checkpointDir), head.inputDim);
  if (!margin) throw new Error(`${checkpointDir}: no "head.margin.weight" (not a training-head checkpoint)`);
  return { projWeight: weight.values, projBias: bias.values, marginWeight: margin.values };
}

export interface BackboneStageOptions {
  config: Config;
  data: DataSet;
  split: DataSplit;
  backbone: ModelBackbone;
  head: HeadConfig;
  /** The head stage's best checkpoint: where the head starts. */
  headCheckpoint: string;
  outDir: string;
  resume?: boolean;
  model: CheckpointModel;
  /** Rows to embed with the stage's best weights when it is done (held-out queries and index). */
  embedRows?: readonly number[];
  progressMode?: 'bar' | 'lines' | 'silent';
  log?: (line: string) => void;
}

export interface BackboneStageResult extends TrainResult {
  /** Unit embeddings of `embedRows` from the best checkpoint (row-major, embeddingDim each). */
  embeddings: Float32Array | null;
  /** What was tuned, for logs. */
  summary: string;
}

/** What a backbone kind hands the shared stage: its trainable part, row sources, and how to clean up. */
interface Tunable {
  backbone: Backbone;
  /** Rows of the data set (training ones augmented per epoch where the kind can). */
  rows(rows: readonly number[], labels: Int32Array, train: boolean): Dataset;
  layerDecay: number;
  numLayers: number;
  summary: string;
  close(): Promise<void>;
}

function vitTunable(o: BackboneStageOptions): Tunable {
  const vit = o.backbone.vit!;
  const open: ImageDataset[] = [];
  const common = { data: o.data, preprocess: o.backbone.preprocess, seed: o.config.seed };
  return {
    backbone: vitBackbone(vit),
    rows: (rows, labels, augmented) => {
      const d = imageDataset({ ...common, rows, labels, augment: augmented ? DEFAULT_AUGMENT : null });
      open.push(d);
      return d;
    },
    layerDecay: o.config.layerDecay,
    numLayers: vit.config.layers,
    summary: `${o.backbone.name}: all ${vit.config.layers} blocks on augmented images, layer decay ${o.config.layerDecay}`,
    close: async () => {
      for (const d of open) await d.close();
    },
  };
}

async function cnnTunable(o: BackboneStageOptions): Promise<Tunable> {
  const { cut, cache } = await cutActivations(o.config, o.data, o.backbone, o.config.backboneBlocks, o.progressMode);
  const [h, w, c] = cut.shape;
  return {
    backbone: suffixBackbone(cut),
    rows: (rows, labels) => rowsDataset(cache, rows, labels),
    layerDecay: 1,
    numLayers: 0,
    summary: `${o.backbone.name}: last ${cut.blocks} blocks (${cut.weights.length} tensors) on cached ${h}x${w}x${c} activations`,
    close: async () => disposeCnnGraph(cut.graph),
  };
}

export async function backboneStage(o: BackboneStageOptions): Promise<BackboneStageResult> {
  if (!o.backbone.vit && !o.backbone.cnn) throw new Error(`backboneEpochs ${o.config.backboneEpochs}: backbone "${o.backbone.name}" cannot be fine-tuned; set backboneEpochs to 0`);
  if (o.backbone.vit && o.config.backboneLr > 1e-4) o.log?.(`warning: backboneLr ${o.config.backboneLr} is the packaged CNNs' default; a pretrained CLIP ViT is usually tuned at 1e-6..1e-5 (set backboneLr)`);
  const tunable = o.backbone.vit ? vitTunable(o) : await cnnTunable(o);
  let model: TrainModel | null = null;
  try {
    const { labels } = trainLabels(o.data, o.split);
    const trainSet = tunable.rows(o.split.train, labels, true);
    const valSet = o.split.val.length > 0 ? tunable.rows(o.split.val, Int32Array.from(o.split.val, (r) => o.data.rows[r].label), false) : null;
    model = createModel(o.head, headWeightsFrom(o.headCheckpoint, o.head), tunable.backbone);
    const fitted = fitBatch(
      {
        ...trainConfigFrom(o.config),
        // a ViT's output projection stays frozen (or is dropped: backbone "<name>.noproj"); the head is locked or trained
        stages: [{ name: 'backbone', epochs: o.config.backboneEpochs, train: o.config.headLock ? '^backbone\\.(?!proj$)' : '^(backbone\\.(?!proj$)|head\\.)' }],
        layerDecay: tunable.layerDecay,
        numLayers: tunable.numLayers,
        progressMode: o.progressMode,
      },
      trainSet.size,
    );
    if (fitted.note) o.log?.(fitted.note);
    const outDir = path.resolve(o.outDir);
    const res = await train(model, { train: trainSet, val: valSet }, fitted.cfg, { outDir, resume: o.resume, model: { ...o.model, backboneTuned: true }, log: o.log });
    let embeddings: Float32Array | null = null;
    if (o.embedRows) {
      loadWeightsInto(model, path.join(checkpointsDir(outDir), 'best'));
      const rows = o.embedRows;
      const set = tunable.rows(rows, new Int32Array(rows.length), false);
      embeddings = await embedAll(model, rows.length, (s, e) => set.rows(Int32Array.from({ length: e - s }, (_, i) => s + i)), set.evalBatch);
    }
    return { ...res, embeddings, summary: `${tunable.summary}, head ${o.config.headLock ? 'locked' : 'trained'}` };
  } finally {
    model?.dispose(); // the backbone's variables are the model's parameters: disposed with it
    await tunable.close();
  }
}
