/**
 * The reference recipe's second stage: after the head has trained on cached features, the CLIP ViT
 * itself is fine-tuned on augmented images at the backbone lr with layer-wise decay, the head
 * frozen ("head-locking", 1st place) or at its own lr. Same loop, same checkpoints and resume;
 * the checkpoints hold the tuned backbone beside the head, so export and embedding take both.
 */
import * as path from 'path';
import { DEFAULT_AUGMENT } from '../data/augment';
import type { Config } from '../config';
import type { DataSet } from '../data/dataset';
import type { DataSplit } from '../data/split';
import type { Backbone } from '../model/backbones';
import { loadCheckpoint, type CheckpointModel } from './checkpoint';
import { imageDataset } from './image-dataset';
import { train, type TrainResult } from './loop';
import { createModel, type HeadConfig, type HeadWeights } from './model';
import { trainLabels } from './prepare';
import { fitBatch, trainConfigFrom } from './settings';
import { vitBackbone } from './vit-backbone';

/** A head checkpoint's weights as createModel takes them. */
export function headWeightsFrom(checkpointDir: string): HeadWeights {
  const t = loadCheckpoint(checkpointDir).tensors;
  const get = (n: string) => {
    const v = t.get(`param/${n}`);
    if (!v) throw new Error(`${checkpointDir}: no "${n}" (not a training-head checkpoint)`);
    return v.values;
  };
  return { projWeight: get('head.proj.weight'), projBias: get('head.proj.bias'), marginWeight: get('head.margin.weight') };
}

export interface BackboneStageOptions {
  config: Config;
  data: DataSet;
  split: DataSplit;
  backbone: Backbone;
  head: HeadConfig;
  /** The head stage's best checkpoint: where the head starts. */
  headCheckpoint: string;
  outDir: string;
  resume?: boolean;
  model: CheckpointModel;
  progressMode?: 'bar' | 'lines' | 'silent';
  log?: (line: string) => void;
}

export async function backboneStage(o: BackboneStageOptions): Promise<TrainResult> {
  const vit = o.backbone.vit;
  if (!vit) throw new Error(`backboneEpochs ${o.config.backboneEpochs}: backbone "${o.backbone.name}" cannot be fine-tuned yet (only CLIP ViTs can); set backboneEpochs to 0`);
  const { labels } = trainLabels(o.data, o.split);
  const common = { data: o.data, preprocess: o.backbone.preprocess, seed: o.config.seed };
  const trainSet = imageDataset({ ...common, rows: o.split.train, labels, augment: DEFAULT_AUGMENT });
  const valSet = o.split.val.length > 0 ? imageDataset({ ...common, rows: o.split.val, labels: Int32Array.from(o.split.val, (r) => o.data.rows[r].label), augment: null }) : null;
  const model = createModel(o.head, headWeightsFrom(o.headCheckpoint), vitBackbone(vit));
  const base = trainConfigFrom(o.config);
  const fitted = fitBatch(
    {
      ...base,
      stages: [{ name: 'backbone', epochs: o.config.backboneEpochs, train: o.config.headLock ? '^backbone\\.' : '^(backbone\\.|head\\.)' }],
      layerDecay: o.config.layerDecay,
      numLayers: vit.config.layers,
      progressMode: o.progressMode,
    },
    trainSet.size,
  );
  if (fitted.note) o.log?.(fitted.note);
  try {
    return await train(model, { train: trainSet, val: valSet }, fitted.cfg, { outDir: path.resolve(o.outDir), resume: o.resume, model: { ...o.model, backboneTuned: true }, log: o.log });
  } finally {
    model.dispose(); // the ViT's variables are the model's backbone parameters: disposed with it
    await trainSet.close();
    await valSet?.close();
  }
}
