/** run.json: what the run trains on and with (data, split, backbone, features, config, recipe, head, loop), written before training. */
import * as path from 'path';
import type { Config } from '../config';
import type { DataSet } from '../data/dataset';
import type { DataSplit } from '../data/split';
import type { Backbone } from '../model/backbones';
import type { DataFeatures } from '../train/prepare';
import { writeJsonAtomic } from '../util/atomic';
import type { HeadPlan } from './head';

export function writeRunRecord(outDir: string, a: { config: Config; data: DataSet; split: DataSplit; backbone: Backbone; features: DataFeatures; plan: HeadPlan }): void {
  const { data, split, plan } = a;
  writeJsonAtomic(path.join(outDir, 'run.json'), {
    data: { origin: data.origin, input: data.input, records: data.recordsDir, files: data.files.length, images: data.rows.length, fingerprint: data.fingerprint },
    split: { kind: split.kind, summary: split.summary, train: split.train.length, val: split.val.length, queries: split.solution.relevant.size, index: split.index.length },
    backbone: { name: a.backbone.name, preprocess: a.backbone.preprocess },
    features: { dir: a.features.cache.dir, key: a.features.key },
    config: a.config,
    recipe: plan.epochs !== null ? { chosen: plan.recipe, epochs: plan.epochs, by: 'leave-one-domain-out validation' } : { chosen: plan.recipe, epochs: null, by: 'the configured recipe (one domain: nothing to leave out)' },
    head: plan.head,
    train: plan.trainCfg,
  });
}
