/** The backbone stage after the head (backboneEpochs > 0; lib/train/backbone-stage.ts): its best checkpoint and the held-out embeddings it gives. */
import * as fs from 'fs';
import * as path from 'path';
import type { Config } from '../config';
import type { DataSet } from '../data/dataset';
import type { DataSplit } from '../data/split';
import type { Backbone } from '../model/backbones';
import { backboneStage } from '../train/backbone-stage';
import type { CheckpointModel } from '../train/checkpoint';
import type { HeadConfig } from '../train/model';
import { checkpointsDir } from '../train/run-checkpoints';
import { writeJsonAtomic } from '../util/atomic';
import type { Stage } from './stage';

export interface TunedBackbone {
  /** The stage's best checkpoint (tuned backbone + head). */
  best: string;
  query: Float32Array;
  index: Float32Array;
}

export async function tuneBackboneStage(stage: Stage, a: { config: Config; data: DataSet; split: DataSplit; backbone: Backbone; head: HeadConfig; headBest: string; headKey: string; outDir: string; model: CheckpointModel }): Promise<TunedBackbone> {
  const dir = path.join(a.outDir, 'train', 'backbone');
  const rows = [...a.split.query, ...a.split.index];
  const c = a.config;
  // a finished stage is reused for the same head run and stage settings (resume of a finished run trains nothing)
  const key = JSON.stringify({ head: a.headKey, stage: [c.backboneEpochs, c.backboneBlocks, c.backboneLr, c.headLock, c.layerDecay, c.ema, c.anchor] });
  const doneFile = path.join(dir, 'done.json');
  const reuse = fs.existsSync(doneFile) && (JSON.parse(fs.readFileSync(doneFile, 'utf8')) as { key: string }).key === key;
  if (!reuse) fs.rmSync(dir, { recursive: true, force: true });
  const res = await stage(
    'train backbone',
    async () => {
      const r = await backboneStage({ config: c, data: a.data, split: a.split, backbone: a.backbone, head: a.head, headCheckpoint: a.headBest, outDir: dir, resume: reuse, model: a.model, embedRows: rows, progressMode: 'lines', log: () => undefined });
      writeJsonAtomic(doneFile, { key, best: r.best?.metric ?? null });
      return r;
    },
    (r) => `${r.summary}, ${c.backboneEpochs} epochs at backbone lr ${c.backboneLr}; ` + (r.best === null ? 'no per-epoch validation: last epoch kept' : `best val mP@5 ${r.best.metric.toFixed(4)}`) + (reuse ? ' (reused finished run)' : ''),
  );
  const d = c.embeddingDim;
  const q = a.split.query.length;
  return { best: path.join(checkpointsDir(dir), 'best'), query: res.embeddings!.slice(0, q * d), index: res.embeddings!.slice(q * d) };
}
