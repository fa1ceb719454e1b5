/**
 * The jig report's training-free baselines: the same gallery and queries through the model's
 * untrained backbone (lib/retrieval/baseline-backbone.ts), scored and compared with the model's
 * metrics by lib/retrieval/baselines.ts, exactly as `guie eval` does. The backbone's gallery is a
 * gallery cache of its own (keyed by the backbone's key), so a second report embeds only the queries.
 */
import type { RecordSchema } from '../data/schema';
import { openBaselineBackbone } from '../retrieval/baseline-backbone';
import { compareToBaselines, scoreBaselines, type BaselineOutcome } from '../retrieval/baselines';
import { scoreEmbeddings } from '../retrieval/evaluate';
import type { MetricsReport } from '../retrieval/metrics';
import type { TrainWhitening } from '../retrieval/train-whitening';
import { openGallery, type Gallery } from './gallery';
import { embedQueryFiles, jigSolution, type QueryFile } from './search';

export interface JigBaselineOptions {
  /** The gallery as given to the jig (image folder or TFRecords). */
  source: string;
  /** The query files the model searched (its unreadable ones already left out). */
  queries: readonly QueryFile[];
  /** The model's backbone (lib/jig/embedders.ts); undefined: skipped, saying why. */
  backbone?: string;
  /** The whitening fitted on the model's training features (lib/retrieval/train-whitening.ts), when it carries one. */
  trainWhitening?: TrainWhitening | null;
  cacheDir?: string;
  schema?: RecordSchema;
  batchSize?: number;
}

/** Baselines beside `model` (the jig's metrics over `gallery`), or why they were skipped. */
export async function jigBaselines(gallery: Gallery, model: MetricsReport, opts: JigBaselineOptions): Promise<BaselineOutcome> {
  const baseline = await openBaselineBackbone(opts.backbone, { trainWhitening: opts.trainWhitening });
  if ('reason' in baseline) return { kind: 'skipped', reason: baseline.reason };
  const base = await openGallery(opts.source, baseline.embedder, { cacheDir: opts.cacheDir, modelFingerprint: baseline.key, schema: opts.schema, progressMode: 'silent' });
  try {
    const index = base.features();
    if (index.ids.length < 2) return { kind: 'skipped', reason: 'a PCA needs at least 2 gallery images' };
    // strict: the model decoded every one of these files, so the same decode cannot fail here
    const { kept: files, vectors } = await embedQueryFiles(base, opts.queries, { batchSize: opts.batchSize ?? 32, strict: true });
    const solution = jigSolution(gallery.items, files);
    const queries = { ids: files.map((f) => f.key), vectors, dim: index.dim };
    const scores = await scoreBaselines({ queries, index }, (q, i) => scoreEmbeddings(q, i, solution, { extraQueries: 'ignore' }), { backbone: baseline.name, trainWhitening: baseline.trainWhitening });
    return compareToBaselines(model, scores);
  } finally {
    await base.dispose();
    baseline.embedder.dispose();
  }
}
