/**
 * Model soup (4th place): the uniform average of the weights of several checkpoints of one model
 * (epochs of a run, or runs with other seeds from the same start), written as a checkpoint that
 * `guie export`, `guie eval --model` and `guie embed` take like any other. When every checkpoint holds
 * weight averages (config ema) those are averaged, as validation and export use them; optimizer slots
 * are dropped; the checkpoints must agree on backbone, head and every weight's shape.
 */
import * as path from 'path';
import { checkpointModel, loadCheckpoint, resolveCheckpointDir, saveCheckpoint, type NamedArray } from './checkpoint';

export interface SoupResult {
  dir: string;
  from: string[];
  tensors: number;
  /** What was averaged: the weight averages (ema/) of every checkpoint, or their weights. */
  averaged: 'ema' | 'weights';
}

export function soupCheckpoints(inputs: readonly string[], out: string): SoupResult {
  if (inputs.length < 2) throw new Error(`soup: give at least two checkpoints (got ${inputs.length})`);
  const dirs = inputs.map((d) => resolveCheckpointDir(d));
  const ckpts = dirs.map((d) => loadCheckpoint(d));
  const first = ckpts[0];
  const model = checkpointModel(first);
  const params = [...first.tensors].filter(([k]) => k.startsWith('param/'));
  const averaged = ckpts.every((c) => params.every(([k]) => c.tensors.has(`ema/${k.slice('param/'.length)}`))) ? 'ema' : 'weights';
  const source = (k: string) => (averaged === 'ema' ? `ema/${k.slice('param/'.length)}` : k);
  const sum = new Map<string, NamedArray>(params.map(([k, t]) => [k, { shape: t.shape, values: new Float32Array(t.values.length) }]));
  for (const [i, c] of ckpts.entries()) {
    const m = checkpointModel(c);
    if (JSON.stringify([m?.backbone, m?.head, m?.backboneTuned ?? false]) !== JSON.stringify([model?.backbone, model?.head, model?.backboneTuned ?? false])) {
      throw new Error(`soup: ${dirs[i]} is another model (backbone ${m?.backbone ?? '?'}, head ${JSON.stringify(m?.head ?? null)}) than ${dirs[0]} (backbone ${model?.backbone ?? '?'})`);
    }
    const names = [...c.tensors.keys()].filter((k) => k.startsWith('param/'));
    const missing = params.map(([k]) => k).filter((k) => !c.tensors.has(k));
    if (missing.length > 0 || names.length !== params.length) throw new Error(`soup: ${dirs[i]} holds other weights than ${dirs[0]} (${missing.length > 0 ? `no ${missing[0]}` : `${names.length} vs ${params.length} tensors`})`);
    for (const [k, acc] of sum) {
      const t = c.tensors.get(source(k))!;
      if (t.values.length !== acc.values.length) throw new Error(`soup: ${dirs[i]} "${k}" has shape [${t.shape}], ${dirs[0]} [${acc.shape}]`);
      for (let j = 0; j < t.values.length; j++) acc.values[j] += t.values[j];
    }
  }
  for (const acc of sum.values()) for (let j = 0; j < acc.values.length; j++) acc.values[j] /= ckpts.length;
  const abs = path.resolve(out);
  if (dirs.includes(abs)) throw new Error(`soup: --out ${out} is one of the inputs`);
  const state = { ...first.state, batchInEpoch: 0, optimizer: { kind: first.state.optimizer.kind, step: 0 }, best: null, extra: { ...first.state.extra, soup: dirs } };
  saveCheckpoint(path.dirname(abs), path.basename(abs), state, sum);
  return { dir: abs, from: dirs, tensors: sum.size, averaged };
}
