/** What the run ships: the export (SavedModel, ONNX, submission zip), the submission verified against the training side, and the jig report over the exported model. */
import * as path from 'path';
import type { Embedder } from '../embedder';
import { buildExportGraph, exportModel, formatExportResult, type ExportResult } from '../export/export-model';
import { formatVerifyReport, verifySubmission } from '../export/verify';
import { jigCommand } from '../jig/commands';
import { loadModel } from '../model-loader';
import type { Backbone } from '../model/backbones';
import type { EmbeddingHead } from '../model/heads';
import { createFeatureEmbedder } from '../model/tfjs-embedder';
import type { Stage } from './stage';

export function exportStage(stage: Stage, checkpoint: string, exportDir: string): Promise<ExportResult> {
  return stage(
    'export',
    async () => {
      const built = await buildExportGraph({ checkpoint });
      return exportModel(built.graph, exportDir, { whitening: built.whitening });
    },
    (r) => formatExportResult(r).split('\n').map((l) => l.trim()).join('; '),
  );
}

/** Verifies the submission zip against the training side's embedder (throws when it fails): the tuned checkpoint's, or the frozen backbone + trained head. */
export async function verifyStage(stage: Stage, a: { zip: string; tunedCheckpoint: string | null; backbone: Backbone; head: EmbeddingHead }): Promise<void> {
  const reference: Embedder = a.tunedCheckpoint ? (await loadModel(a.tunedCheckpoint)).embedder : createFeatureEmbedder({ ...a.backbone, dispose: () => undefined }, a.head, { name: 'training-side tfjs' });
  const verified = await stage('verify submission', () => verifySubmission(a.zip, { reference }), (r) => (r.ok ? `ok: ${formatVerifyReport(r).split('\n')[0]}` : `FAILED: ${formatVerifyReport(r)}`)).finally(() => a.tunedCheckpoint && reference.dispose());
  if (!verified.ok) throw new Error(`verify-submission failed:\n${formatVerifyReport(verified)}`);
}

/** The jig's HTML report of the held-out queries through the exported ONNX model; returns its path. */
export async function jigStage(stage: Stage, a: { evalDirs: { queries: string; index: string }; onnx: string; outDir: string }): Promise<string> {
  const report = path.join(a.outDir, 'jig-report.html');
  await stage(
    'jig report',
    () => jigCommand({ gallery: a.evalDirs.index, queries: a.evalDirs.queries, model: a.onnx, out: report, k: 5, cacheDir: path.join(a.outDir, 'jig-cache') }, () => undefined),
    (r) => `${r.queries.length} queries, mP@5 ${r.metrics?.overall.mP5.toFixed(4) ?? 'n/a'} through the exported ONNX model -> ${path.relative(process.cwd(), report)}`,
  );
  return report;
}
