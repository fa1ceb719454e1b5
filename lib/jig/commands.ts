/**
 * `guie jig` (queries -> self-contained HTML report) and `guie serve` (the web app). Without
 * --gallery both use the bundled demo gallery, generated on first use under outputs/jig/demo.
 */
import type { Command } from 'commander';
import * as path from 'path';
import { initBackend } from '../device';
import { parseSchema } from '../data/schema';
import { writeFileAtomic } from '../util/atomic';
import { PROJECT_ROOT } from '../util/paths';
import { intFlag, secondsFlag } from '../util/int-flag';
import { formatBaselines } from '../retrieval/baselines';
import { jigBaselines } from './baselines';
import { buildDemoGallery } from './demo-gallery';
import { loadJigModel, type JigModel } from './embedders';
import { listImageFolder, openGallery, type Gallery } from './gallery';
import { DEFAULT_LIMITS } from './image';
import { jigReportHtml } from './report';
import { searchFolder, type JigResult } from './search';
import { DEFAULT_SERVE } from './serve-options';
import { startJigServer, type RunningServer } from './server';

export const DEMO_DIR = path.join(PROJECT_ROOT, 'outputs', 'jig', 'demo');

export interface GallerySpec {
  /** Image folder, TFRecord file or folder of shards; default: the bundled demo gallery. */
  gallery?: string;
  model?: string;
  imageSize?: number;
  /** TFRecord schema preset name or JSON (see lib/data/schema). */
  schema?: string;
  cacheDir?: string;
  /** Fail on the first gallery (and, for the jig, query) image that does not decode instead of skipping it. */
  strict?: boolean;
}

const gallerySource = async (spec: GallerySpec) => spec.gallery ?? (await buildDemoGallery(DEMO_DIR)).gallery;

/** `model`: already loaded (default: loaded from `spec.model`). */
export async function openJigGallery(spec: GallerySpec, model?: JigModel): Promise<Gallery> {
  await initBackend();
  const source = await gallerySource(spec);
  const m = model ?? (await loadJigModel(spec.model, spec.imageSize));
  return openGallery(source, m.embedder, { cacheDir: spec.cacheDir, modelFingerprint: m.fingerprint, schema: spec.schema ? parseSchema(spec.schema) : undefined, strict: spec.strict });
}

export interface JigCommandOptions extends GallerySpec {
  queries?: string;
  out: string;
  k: number;
  /** commander's --no-baselines: false leaves the untrained backbone's columns out of the report. */
  baselines?: boolean;
}

/** Embeds/loads the gallery, searches every query, writes the HTML report; returns the results. */
export async function jigCommand(opts: JigCommandOptions, log: (s: string) => void = console.log): Promise<JigResult> {
  const queries = opts.queries ?? (opts.gallery ? undefined : (await buildDemoGallery(DEMO_DIR)).queries);
  if (!queries) throw new Error('--queries is required with --gallery');
  // the gallery folder is resolved once: the model's index and the baselines read the same one
  const spec = { ...opts, gallery: await gallerySource(opts) };
  const model = await loadJigModel(opts.model, opts.imageSize);
  const gallery = await openJigGallery(spec, model).catch((e: unknown) => {
    model.embedder.dispose();
    throw e;
  });
  try {
    const searched = await searchFolder(gallery, queries, { k: opts.k, strict: opts.strict });
    if (searched.skipped.length > 0) log(`queries ${queries}: skipped ${searched.skipped.length} unreadable images (--strict fails instead), first: ${searched.skipped.slice(0, 3).map((k) => k.reason).join('; ')}`);
    const unread = new Set(searched.skipped.map((k) => k.file));
    // the demo descriptor has no backbone to compare with
    const wanted = opts.baselines !== false && opts.model !== undefined && opts.model !== 'demo';
    const baselines = searched.metrics && wanted ? await jigBaselines(gallery, searched.metrics, { source: spec.gallery, queries: listImageFolder(queries).filter((f) => !unread.has(f.file)), backbone: model.backbone, trainWhitening: model.trainWhitening, cacheDir: opts.cacheDir, schema: opts.schema ? parseSchema(opts.schema) : undefined }) : undefined;
    const result = baselines ? { ...searched, baselines } : searched;
    writeFileAtomic(opts.out, jigReportHtml(result, gallery));
    const s = gallery.stats();
    log(`gallery: ${s.size} images (${s.cached ? 'cached index' : `embedded in ${(s.buildMs / 1000).toFixed(1)} s`}), ${result.queries.length} queries`);
    if (result.metrics) {
      log(`mP@5 ${result.metrics.overall.mP5.toFixed(4)} over ${result.metrics.overall.queries} queries`);
      for (const [d, m] of Object.entries(result.metrics.byDomain)) log(`  ${d.padEnd(20)} mP@5 ${m.mP5.toFixed(4)} (${m.queries})`);
    }
    if (result.baselines) log(formatBaselines(result.baselines));
    log(`report: ${opts.out}`);
    return result;
  } finally {
    await gallery.dispose();
    gallery.embedder.dispose();
  }
}

export interface ServeCommandOptions extends GallerySpec {
  host: string;
  port: number;
  maxUploadBytes: number;
  maxPixels: number;
  decodeSeconds: number;
  /** Host names answered besides loopback and IP literals (DNS-rebinding defence); "*" = any. */
  allowHost: string[];
  decodes: number;
  largePixels: number;
  queue: number;
}

export async function serveCommand(opts: ServeCommandOptions, log: (s: string) => void = console.log): Promise<RunningServer> {
  const gallery = await openJigGallery(opts);
  const server = await startJigServer(gallery, { host: opts.host, port: opts.port, limits: { maxBytes: opts.maxUploadBytes, maxPixels: opts.maxPixels, decodeSeconds: opts.decodeSeconds }, allowedHosts: opts.allowHost, decodes: { concurrent: Math.max(1, opts.decodes), queued: opts.queue, largePixels: opts.largePixels } });
  if (opts.host !== '127.0.0.1' && opts.host !== 'localhost' && opts.host !== '::1') log(`warning: listening on ${opts.host}: reachable from other machines`);
  log(`guie serve: ${gallery.size} gallery images at ${server.url}`);
  return server;
}

export function register(program: Command): void {
  const galleryOptions = (c: Command) =>
    c
      .option('--gallery <dir|tfrecords>', 'image folder (labels from sub-folders) or TFRecord file/folder; default: the bundled demo gallery')
      .option('--model <demo|file.onnx>', 'embedder: the demo colour/texture descriptor or an exported ONNX model', 'demo')
      .option('--image-size <n>', 'only for exported models that record no preprocessing: feed N x N squashes', intFlag('--image-size'))
      .option('--schema <name|json>', 'TFRecord feature names (preset or JSON)')
      .option('--cache-dir <dir>', 'where embedded gallery indexes are cached')
      .option('--strict', 'fail on the first image that does not decode (default: skip it, name it and say how many)');

  galleryOptions(program.command('jig').description('search query images against a gallery and write a self-contained HTML report'))
    .option('--queries <dir>', 'query images (sub-folder = label gives ground truth); default: the demo queries')
    .option('--out <file>', 'report file', path.join(PROJECT_ROOT, 'outputs', 'jig', 'report.html'))
    .option('-k <n>', 'matches shown per query', intFlag('-k'), 5)
    .option('--no-baselines', "with a --model: leave out the training-free baselines (its untrained backbone: raw features, PCA-64 and whitened PCA-64 fitted on the gallery, and the whitening fitted on its training features when it carries one)")
    .action(async (o: JigCommandOptions) => {
      await jigCommand(o);
    });

  galleryOptions(program.command('serve').description('web app: search the gallery with uploaded images (JSON API under /api)'))
    .option('--host <addr>', 'address to bind (default loopback only)', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free one)', intFlag('--port'), 8080)
    .option('--max-upload-bytes <n>', 'largest accepted upload', intFlag('--max-upload-bytes'), DEFAULT_LIMITS.maxBytes)
    .option('--max-pixels <n>', 'largest accepted width*height', intFlag('--max-pixels'), DEFAULT_LIMITS.maxPixels)
    .option('--decode-seconds <n>', 'deadline of one upload\'s decode: its decoder process is killed there and the upload refused with 413', secondsFlag('--decode-seconds'), DEFAULT_LIMITS.decodeSeconds)
    .option('--allow-host <name>', 'also answer requests whose Host header is this name (repeatable; "*" = any). Loopback names and IP literals are always answered; other names are refused against DNS rebinding', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--decodes <n>', 'uploads decoded and embedded at once', intFlag('--decodes'), DEFAULT_SERVE.decodes.concurrent)
    .option('--queue <n>', 'uploads that may wait for a decode slot; beyond that 503 + Retry-After', intFlag('--queue'), DEFAULT_SERVE.decodes.queued)
    .option('--large-pixels <n>', 'uploads over this many pixels (from their header) decode in a lane of their own, one at a time, so huge uploads never hold up ordinary queries', intFlag('--large-pixels'), DEFAULT_SERVE.decodes.largePixels)
    .action(async (o: ServeCommandOptions) => {
      await serveCommand(o);
    });
}
