/**
 * The head stage: the shipped head's plan (the chosen recipe, its epochs, the loop's config), then its
 * training on the cached features, or the finished run reused for the same settings, features and split.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Config } from '../config';
import type { DataSet } from '../data/dataset';
import type { DataSplit } from '../data/split';
import type { Backbone } from '../model/backbones';
import type { Pca } from '../retrieval/pca';
import { writeTrainWhitening } from '../retrieval/train-whitening';
import type { CheckpointModel } from '../train/checkpoint';
import type { FeatureCache } from '../train/feature-cache';
import { train } from '../train/loop';
import { type Dataset, type TrainConfig } from '../train/train-config';
import type { HeadConfig, TrainModel } from '../train/model';
import { trainingSets } from '../train/prepare';
import { recipeConfig } from '../train/recipes';
import { checkpointsDir, loadWeightsInto } from '../train/run-checkpoints';
import { fitBatch, headConfigFrom, trainConfigFrom } from '../train/settings';
import { writeJsonAtomic } from '../util/atomic';
import type { SearchResult } from './recipe-search';
import type { Stage } from './stage';

export interface HeadPlan {
  recipe: string;
  /** The config with the recipe's settings applied. */
  settings: Config;
  /** Epochs the held-out domains chose (the last one is kept); null: the configured epochs, in-domain validation keeping the best. */
  epochs: number | null;
  /** The held-out domains peaked at the untrained start (epoch 0): the head trains 1 epoch, the least the export takes. */
  untrainedPreferred: boolean;
  sets: { train: Dataset; val: Dataset | null; numClasses: number };
  head: HeadConfig;
  trainCfg: TrainConfig;
  /** Why the batch was lowered to fit the training rows, or null. */
  batchNote: string | null;
  /** What the checkpoints record about their weights. */
  model: CheckpointModel;
}

export function headPlan(a: { config: Config; data: DataSet; split: DataSplit; cache: FeatureCache; backbone: Backbone; featureKey: string; search: SearchResult | null; recipes: string[] }): HeadPlan {
  const { data, split, search } = a;
  const recipe = search?.chosen.recipe ?? a.recipes[0];
  const settings = recipeConfig(a.config, recipe);
  // the held-out domains may prefer the untrained start (epoch 0); the export path needs one trained epoch
  const epochs = search ? Math.max(1, search.chosen.epochs) : null;
  const sets = trainingSets(data, split, a.cache);
  const head = headConfigFrom(settings, a.cache.dim, sets.numClasses);
  const fitted = fitBatch({ ...trainConfigFrom(settings), progressMode: 'lines', ...(epochs === null ? {} : { stopAfterEpochs: epochs }) }, sets.train.size);
  const model: CheckpointModel = { backbone: a.backbone.name, preprocess: a.backbone.preprocess, head, data: { input: data.input, fingerprint: data.fingerprint, split: split.kind }, featureKey: a.featureKey };
  return { recipe, settings, epochs, untrainedPreferred: search?.chosen.epochs === 0, sets, head, trainCfg: fitted.cfg, batchNote: fitted.note, model };
}

/** Trains `model` into <outDir>/train (or reloads the finished run's best); returns that best checkpoint and the run's key (the backbone stage's reuse builds on it). */
export async function trainHeadStage(stage: Stage, a: { plan: HeadPlan; init: { whitening: Pca | null; note: string | null }; model: TrainModel; split: DataSplit; backbone: Backbone; outDir: string }): Promise<{ best: string; key: string }> {
  const { plan, init, model, split } = a;
  const { settings, epochs, sets, head, trainCfg } = plan;
  const trainDir = path.join(a.outDir, 'train');
  // A finished run is reused only for the same settings, features (the key names backbone, pixels and data) and split.
  const key = JSON.stringify({ head, trainCfg, headInit: settings.headInit, featureKey: plan.model.featureKey, split: createHash('sha256').update(JSON.stringify([split.train, split.val])).digest('hex') });
  const doneFile = path.join(trainDir, 'done.json');
  const reuse = fs.existsSync(doneFile) && (JSON.parse(fs.readFileSync(doneFile, 'utf8')) as { key: string }).key === key;
  const best = path.join(checkpointsDir(trainDir), 'best');
  await stage(
    'train head',
    async () => {
      const whitening = () => init.whitening && writeTrainWhitening(trainDir, { backbone: a.backbone.name, rows: sets.train.size, featureKey: plan.model.featureKey, pca: init.whitening }); // export carries it: eval's training-data baseline
      if (reuse) {
        whitening(); // deterministic (same features and split): also gives runs finished before it existed their file
        loadWeightsInto(model, best);
        return { reused: true, best: (JSON.parse(fs.readFileSync(doneFile, 'utf8')) as { best: number | null }).best };
      }
      fs.rmSync(trainDir, { recursive: true, force: true });
      fs.mkdirSync(trainDir, { recursive: true });
      whitening();
      // epochs chosen on held-out domains: the last one is kept, in-domain validation chooses nothing
      const res = await train(model, epochs === null ? sets : { train: sets.train, val: null }, trainCfg, { outDir: trainDir, log: () => undefined, model: plan.model });
      loadWeightsInto(model, best);
      writeJsonAtomic(doneFile, { key, best: res.best?.metric ?? null, epoch: res.best?.epoch ?? null });
      return { reused: false, best: res.best?.metric ?? null };
    },
    (r) =>
      `recipe ${plan.recipe}: ${head.margin} head${settings.headInit === 'whitening' && !init.note ? ' from the whitened PCA' : ''} on ${sets.train.size} cached features of ${head.numClasses} classes, ` +
      (epochs === null ? `${settings.epochs} epochs; ` : `${epochs} of ${settings.epochs} epochs (the peak of the held-out-domain validation${plan.untrainedPreferred ? '; it preferred the untrained start, 1 epoch is the least the export takes' : ''}); `) +
      (r.best === null || epochs !== null ? 'last epoch kept' : `best val mP@5 ${r.best.toFixed(4)}`) +
      (r.reused ? ' (reused finished run)' : '') +
      (plan.batchNote ? `; ${plan.batchNote}` : '') +
      (init.note ? `; ${init.note}` : ''),
  );
  return { best, key };
}
