/** `guie eval`, `guie embed` and `guie index`: thin CLI wrappers over lib/retrieval. */
import * as fs from 'fs';
import { Command, InvalidArgumentError } from 'commander';
import type { Embedder } from '../embedder';
import { embedToDir, folderSource, readEmbeddings, tfrecordSource } from './embed';
import { buildIndex, evalCommand } from './evaluate';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${v}"`);
  return n;
}

function indexKind(v: string): 'exact' | 'hnsw' {
  if (v !== 'exact' && v !== 'hnsw') throw new InvalidArgumentError(`expected "exact" or "hnsw", got "${v}"`);
  return v;
}

interface EvalArgs {
  queries: string;
  index: string;
  solution: string;
  out?: string;
  indexKind: 'exact' | 'hnsw';
  k: number;
  ignoreExtra?: boolean;
  model?: string;
  work?: string;
  batch?: number;
}

/**
 * Registers the retrieval commands. `loadEmbedder` turns a --model argument into an Embedder;
 * the CLI passes the project's model loader (without it `guie embed` and `eval --model` are not registered).
 */
export function register(program: Command, loadEmbedder?: (model: string) => Promise<Embedder>): void {
  const evalCmd = program
    .command('eval')
    .description('mP@5 (host CalibratedPrecision) Public/Private/overall and per domain, recall@k, mAP@100')
    .requiredOption('--queries <dir>', 'query embeddings directory (from `guie embed`), or query images with --model')
    .requiredOption('--index <dir>', 'index embeddings directory, a saved index from `guie index`, or index images with --model')
    .requiredOption('--solution <csv>', 'host-style solution CSV: id,<space-separated index ids>,Usage[,domain]')
    .option('--out <json>', 'write the full report as JSON')
    .option('--index-kind <kind>', 'exact or hnsw (when --index holds embeddings)', indexKind, 'exact')
    .option('-k, --k <n>', 'neighbours per query', positiveInt, 100)
    .option('--ignore-extra', 'leave out query embeddings the solution does not list (the host rejects them)');
  if (loadEmbedder) {
    evalCmd
      .option('--model <model>', 'embed image folders given as --queries/--index with this model')
      .option('--work <dir>', 'where embedded image folders are cached (default: eval-cache beside the solution)')
      .option('--batch <n>', 'images per batch when embedding', positiveInt, 32);
  }
  evalCmd.action(async (o: EvalArgs) => {
    const embedder = o.model && loadEmbedder ? await loadEmbedder(o.model) : undefined;
    try {
      await evalCommand({ ...o, embedder, workDir: o.work, batchSize: o.batch, extraQueries: o.ignoreExtra ? 'ignore' : 'error' });
    } finally {
      embedder?.dispose();
    }
  });

  program
    .command('index')
    .description('build and save an exact or HNSW index from an embeddings directory')
    .argument('<embeddings>', 'embeddings directory')
    .argument('<out>', 'index directory to write (replaced atomically)')
    .option('--kind <kind>', 'exact or hnsw', indexKind, 'exact')
    .option('--m <n>', 'HNSW graph degree', positiveInt, 16)
    .option('--ef-construction <n>', 'HNSW build beam', positiveInt, 200)
    .action(async (emb: string, out: string, o: { kind: 'exact' | 'hnsw'; m: number; efConstruction: number }) => {
      const index = buildIndex(readEmbeddings(emb), o.kind, { hnsw: { m: o.m, efConstruction: o.efConstruction } });
      index.save(out);
      console.log(`${o.kind} index of ${index.size} x ${index.dim} -> ${out}`);
      await index.dispose();
    });

  if (!loadEmbedder) return;
  program
    .command('embed')
    .description('embed a folder tree or TFRecord shards into an embeddings directory (resumes an interrupted run)')
    .requiredOption('--model <model>', 'model to embed with')
    .argument('<out>', 'embeddings directory')
    .argument('<inputs...>', 'one image folder, or TFRecord shard files')
    .option('--batch <n>', 'images per batch', positiveInt, 32)
    .option('--image-key <key>', 'TFRecord feature with the encoded image', 'image')
    .option('--id-key <key>', 'TFRecord feature with the image id (default: shard:record)')
    .option('--restart', 'discard a previous run in <out>')
    .action(async (out: string, inputs: string[], o: { model: string; batch: number; imageKey: string; idKey?: string; restart?: boolean }) => {
      const isFolder = inputs.length === 1 && fs.statSync(inputs[0]).isDirectory();
      const source = isFolder ? folderSource(inputs[0]) : tfrecordSource(inputs, o);
      const embedder = await loadEmbedder(o.model);
      try {
        const state = await embedToDir(source, embedder, out, { batchSize: o.batch, restart: o.restart });
        console.log(`${state.done} images -> ${out} (${embedder.name}, ${state.dim}-d)`);
      } finally {
        embedder.dispose();
      }
    });
}
