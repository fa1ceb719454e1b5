/** `guie eval`, `guie embed` and `guie index`: thin CLI wrappers over lib/retrieval. */
import * as fs from 'fs';
import * as path from 'path';
import { MANIFEST_FILE, readManifest } from '../data/builders/build';
import { listShards } from '../data/pipeline';
import { Command, InvalidArgumentError } from 'commander';
import type { Embedder } from '../embedder';
import { openBaselineBackbone } from './baseline-backbone';
import type { TrainWhitening } from './train-whitening';
import { embedToDir, folderSource, readEmbeddings, tfrecordSource } from './embed';
import { buildIndex, evalCommand } from './evaluate';
import { intFlag } from '../util/int-flag';

function indexKind(v: string): 'exact' | 'hnsw' {
  if (v !== 'exact' && v !== 'hnsw') throw new InvalidArgumentError(`expected "exact" or "hnsw", got "${v}"`);
  return v;
}

interface EvalArgs {
  queries: string;
  index: string;
  solution?: string;
  out?: string;
  indexKind: 'exact' | 'hnsw';
  k: number;
  ignoreExtra?: boolean;
  model?: string;
  work?: string;
  batch?: number;
  /** commander's --no-baselines: false skips the untrained backbone. */
  baselines: boolean;
}

/** What a --model argument loads to (lib/model-loader.ts in the CLI). */
export type ModelLoader = (model: string) => Promise<{ embedder: Embedder; fingerprint: string; description: string; backbone?: string; trainWhitening?: TrainWhitening | null }>;

/** Record files of a folder or file list, with the schema of this project's manifest.json when there is one. */
function recordsSource(inputs: string[], o: { imageKey?: string; idKey?: string }, preprocess: Embedder['preprocess']) {
  const files = listShards(inputs);
  if (files.length === 0) throw new Error(`${inputs.join(', ')}: no images and no .tfrec/.tfrecord files`);
  const manifest = inputs.length === 1 && fs.existsSync(path.join(inputs[0], MANIFEST_FILE)) ? readManifest(path.join(inputs[0], MANIFEST_FILE)) : null;
  return tfrecordSource(files, { imageKey: o.imageKey ?? manifest?.schema.image, idKey: o.idKey ?? manifest?.schema.id, preprocess });
}

/** Registers `guie eval`, `guie index` and `guie embed`; `loadModel` turns a --model argument into an Embedder. */
export function register(program: Command, loadModel: ModelLoader, workDir: () => string): void {
  program
    .command('eval')
    .description('mP@5 (host CalibratedPrecision) overall, Public/Private and per domain, recall@k, mAP@100; ground truth from class folders or a solution CSV')
    .requiredOption('--queries <dir>', 'query images in class folders (<class>/<image> or <group>/<class>/<image>, with --model), or query embeddings from `guie embed`')
    .requiredOption('--index <dir>', 'index images in class folders (with --model), index embeddings, or a saved index from `guie index`')
    .option('--model <model>', 'embed image folders with this model: model.onnx, a saved_model folder, a `guie run` folder or a training checkpoint')
    .option('--solution <csv>', 'host-style solution CSV id,<space-separated index ids>,Usage[,domain] (default: same class folder = relevant)')
    .option('--out <json>', 'write the full report as JSON')
    .option('--index-kind <kind>', 'exact or hnsw (when --index holds embeddings)', indexKind, 'exact')
    .option('-k, --k <n>', 'neighbours per query', intFlag('-k', 1), 100)
    .option('--ignore-extra', 'with --solution: leave out query embeddings the solution does not list (the host rejects them)')
    .option('--work <dir>', 'where embedded image folders are cached (default <paths.cache>/eval)')
    .option('--batch <n>', 'images per batch when embedding', intFlag('--batch', 1), 32)
    .option('--no-baselines', "with --model: skip the training-free baselines (the model's untrained backbone: raw features, PCA-64 and whitened PCA-64 fitted on the index, and the whitened PCA-64 fitted on the training features when the model carries it)")
    .action(async (o: EvalArgs) => {
      const model = o.model ? await loadModel(o.model) : undefined;
      const openBaseline = model && o.baselines ? () => openBaselineBackbone(model.backbone, { trainWhitening: model.trainWhitening }) : undefined;
      try {
        await evalCommand({ ...o, embedder: model?.embedder, modelFingerprint: model?.fingerprint, workDir: o.work ?? workDir(), batchSize: o.batch, extraQueries: o.ignoreExtra ? 'ignore' : 'error', openBaseline });
      } finally {
        model?.embedder.dispose();
      }
    });

  program
    .command('index')
    .description('build and save an exact or HNSW index from an embeddings directory')
    .argument('<embeddings>', 'embeddings directory')
    .argument('<out>', 'index directory to write (replaced atomically)')
    .option('--kind <kind>', 'exact or hnsw', indexKind, 'exact')
    .option('--m <n>', 'HNSW graph degree', intFlag('--m', 1), 16)
    .option('--ef-construction <n>', 'HNSW build beam', intFlag('--ef-construction', 1), 200)
    .action(async (emb: string, out: string, o: { kind: 'exact' | 'hnsw'; m: number; efConstruction: number }) => {
      const index = buildIndex(readEmbeddings(emb), o.kind, { hnsw: { m: o.m, efConstruction: o.efConstruction } });
      index.save(out);
      console.log(`${o.kind} index of ${index.size} x ${index.dim} -> ${out}`);
      await index.dispose();
    });

  program
    .command('embed')
    .description('embed an image folder (ids = paths) or TFRecords with a model into an embeddings directory; resumes an interrupted run')
    .argument('<inputs...>', 'one image folder, or TFRecord files / a folder of them')
    .requiredOption('--model <model>', 'model.onnx, a saved_model folder, a `guie run` folder or a training checkpoint')
    .requiredOption('--out <dir>', 'embeddings directory (vectors.f32, ids.txt, state.json)')
    .option('--batch <n>', 'images per batch', intFlag('--batch', 1), 32)
    .option('--image-key <key>', 'TFRecord feature with the encoded image (default: the records\' manifest or image/encoded)')
    .option('--id-key <key>', 'TFRecord feature with the image id (default: the manifest\'s, else shard:record)')
    .option('--restart', 'discard a previous run in --out')
    .option('--strict', 'fail on the first image that does not decode (default: skip it, list it in state.json and say so)')
    .option('--progress <mode>', 'bar | lines | silent')
    .action(async (inputs: string[], o: { model: string; out: string; batch: number; imageKey?: string; idKey?: string; restart?: boolean; strict?: boolean; progress?: 'bar' | 'lines' | 'silent' }) => {
      for (const p of inputs) if (!fs.existsSync(p)) throw new Error(`${p}: does not exist`);
      const model = await loadModel(o.model);
      try {
        const pp = model.embedder.preprocess;
        const isImageFolder = inputs.length === 1 && fs.statSync(inputs[0]).isDirectory() && listShards(inputs).length === 0;
        const source = isImageFolder ? folderSource(inputs[0], pp) : recordsSource(inputs, o, pp);
        if (isImageFolder && source.size === 0) throw new Error(`${inputs[0]}: no images (.jpg, .png, .webp, ...) inside`);
        const state = await embedToDir(source, model.embedder, o.out, { batchSize: o.batch, restart: o.restart, progress: o.progress, modelId: model.fingerprint, strict: o.strict });
        console.log(`${state.done} images -> ${o.out} (${model.description}, ${state.dim}-d)`);
        const skipped = state.skipped ?? [];
        if (skipped.length > 0) console.warn(`skipped ${skipped.length} unreadable images (listed in ${path.join(o.out, 'state.json')}; --strict fails instead), first: ${skipped.slice(0, 3).map((k) => k.reason).join('; ')}`);
      } finally {
        model.embedder.dispose();
      }
    });
}
