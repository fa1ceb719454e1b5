/**
 * A Keras-style model.summary() computed from the config's parameter shapes alone: no weights are
 * allocated, so the ViT-H/14 numbers come out in milliseconds.
 */
import { numel } from '../core/layout';
import { vitParamShapes } from './vit-layout';
import { featureDim, gridSize, type VitConfig } from './vit-config';

export interface SummaryRow {
  layer: string;
  type: string;
  /** Keras style, batch first as null. */
  outputShape: Array<number | null>;
  params: number;
}

export interface ModelSummary {
  name: string;
  rows: SummaryRow[];
  backboneParams: number;
  headParams: number;
  totalParams: number;
}

/** Backbone rows (one per open_clip module) + Dropout/Dense/L2 head rows when `embeddingDim` is given. */
export function modelSummary(cfg: VitConfig, head: { dim: number; dropout?: number } | null = { dim: 64 }): ModelSummary {
  const shapes = new Map(vitParamShapes(cfg));
  const count = (pred: (name: string) => boolean) => [...shapes].filter(([n]) => pred(n)).reduce((a, [, s]) => a + numel(s), 0);
  const g = gridSize(cfg);
  const tokens = g * g + 1;
  const w = cfg.width;
  const rows: SummaryRow[] = [
    { layer: 'input', type: 'InputLayer', outputShape: [null, cfg.imageSize, cfg.imageSize, 3], params: 0 },
    { layer: 'conv1', type: 'Conv2D', outputShape: [null, g, g, w], params: count((n) => n === 'conv1.weight') },
    { layer: 'embeddings', type: 'ClassToken+PosEmbed', outputShape: [null, tokens, w], params: count((n) => n === 'class_embedding' || n === 'positional_embedding') },
    { layer: 'ln_pre', type: 'LayerNorm', outputShape: [null, tokens, w], params: count((n) => n.startsWith('ln_pre.')) },
  ];
  for (let i = 0; i < cfg.layers; i++) {
    rows.push({ layer: `resblocks.${i}`, type: 'ResidualAttentionBlock', outputShape: [null, tokens, w], params: count((n) => n.startsWith(`transformer.resblocks.${i}.`)) });
  }
  rows.push({ layer: 'ln_post', type: 'LayerNorm', outputShape: [null, w], params: count((n) => n.startsWith('ln_post.')) });
  if (cfg.outputDim !== null) rows.push({ layer: 'proj', type: 'Projection', outputShape: [null, cfg.outputDim], params: count((n) => n === 'proj') });
  const backboneParams = rows.reduce((a, r) => a + r.params, 0);
  if (head) {
    const f = featureDim(cfg);
    rows.push(
      { layer: 'dropout', type: `Dropout(${head.dropout ?? 0.2})`, outputShape: [null, f], params: 0 },
      { layer: 'dense', type: 'Dense', outputShape: [null, head.dim], params: f * head.dim + head.dim },
      { layer: 'l2_norm', type: 'L2Normalize', outputShape: [null, head.dim], params: 0 },
    );
  }
  const totalParams = rows.reduce((a, r) => a + r.params, 0);
  return { name: cfg.name, rows, backboneParams, headParams: totalParams - backboneParams, totalParams };
}

const n = (x: number) => x.toLocaleString('en-US');

/** Text table like Keras' model.summary(). */
export function formatSummary(s: ModelSummary): string {
  const cells = s.rows.map((r) => [`${r.layer} (${r.type})`, `(${r.outputShape.map((d) => (d === null ? 'None' : d)).join(', ')})`, n(r.params)]);
  const head = ['Layer (type)', 'Output Shape', 'Param #'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)) + 2);
  const line = (c: string[]) => c.map((x, i) => (i === 2 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join('');
  const rule = '='.repeat(widths.reduce((a, b) => a + b, 0));
  return [
    `Model: "${s.name}"`,
    rule,
    line(head),
    rule,
    ...cells.map(line),
    rule,
    `Total params: ${n(s.totalParams)}`,
    `Backbone params: ${n(s.backboneParams)}`,
    `Head params: ${n(s.headParams)}`,
  ].join('\n');
}
