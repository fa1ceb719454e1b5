/** `guie build-records` and `guie inspect-records`: thin wrappers over builders/ and inspect.ts. */
import * as path from 'path';
import type { Command } from 'commander';
import { buildRecords, type BuildOptions, type Manifest } from './builders/build';
import { listFolderSource, listGldv2, listProducts10k, type SourceKind, type SourceItem } from './builders/sources';
import { formatSummaries, inspectShard, problems, type ShardSummary } from './inspect';
import { listShards } from './pipeline';
import { parseSchema } from './schema';
import { intFlag } from '../util/int-flag';

/** The builder's options as the CLI takes them: paths, and the schema as a preset name or JSON. */
export interface BuildRecordsArgs extends Pick<BuildOptions, 'kind' | 'labelOffset' | 'shardSize' | 'maxPerClass' | 'minPerClass' | 'maxClasses' | 'seed'> {
  /** Folder root (folder) or CSV file (products10k, gldv2). */
  input: string;
  /** Image folder for the CSV kinds. */
  images?: string;
  out: string;
  source?: string;
  /** Preset name or JSON feature names. */
  schema?: string;
}

export function listSource(kind: SourceKind, input: string, images?: string): SourceItem[] {
  if (kind === 'folder') return listFolderSource(input);
  if (!images) throw new Error(`build-records ${kind}: --images <dir> is required with a CSV`);
  if (kind === 'products10k') return listProducts10k(input, images);
  if (kind === 'gldv2') return listGldv2(input, images);
  throw new Error(`unknown source kind "${kind as string}" (folder, products10k, gldv2)`);
}

export async function buildRecordsCommand(a: BuildRecordsArgs): Promise<Manifest> {
  const items = listSource(a.kind, a.input, a.images);
  const m = await buildRecords(items, {
    outDir: a.out,
    source: a.source ?? a.kind,
    kind: a.kind,
    root: path.resolve(a.images ?? a.input),
    labelOffset: a.labelOffset,
    shardSize: a.shardSize,
    maxPerClass: a.maxPerClass,
    minPerClass: a.minPerClass,
    maxClasses: a.maxClasses,
    seed: a.seed,
    schema: a.schema ? parseSchema(a.schema) : undefined,
  });
  const s = m.sources[0];
  console.log(
    `${s.name}: ${s.numImages} images, ${s.numClasses} classes (labels ${s.labelRange[0]}-${s.labelRange[1]}), ${m.shards.length} shards -> ${a.out}` +
      (s.skipped.length ? `; skipped ${s.skipped.length} unreadable files (all in manifest.json; first: ${s.skipped.slice(0, 3).map((k) => `${path.relative(path.resolve(a.images ?? a.input), k.file)}: ${k.reason}`).join('; ')})` : '') +
      (s.droppedClasses ? `; dropped ${s.droppedClasses} classes (minimum size / class limit)` : ''),
  );
  return m;
}

/** Prints the summaries; any corrupt, non-Example or (with decode) undecodable record makes the exit status 1. */
export async function inspectRecordsCommand(inputs: string[], opts: { schema?: string; decode?: boolean } = {}): Promise<ShardSummary[]> {
  const schema = opts.schema ? parseSchema(opts.schema) : undefined;
  const out: ShardSummary[] = [];
  for (const f of listShards(inputs)) out.push(await inspectShard(f, schema, { decode: opts.decode }));
  console.log(formatSummaries(out));
  if (out.some((s) => problems(s) > 0)) process.exitCode = 1;
  return out;
}

export function register(program: Command): void {
  program
    .command('build-records')
    .description('images -> sharded TFRecords + manifest.json (kind: folder | products10k | gldv2)')
    .argument('<kind>', 'folder (root/<class>/<image>), products10k (CSV name,class,group), gldv2 (CSV id,landmark_id)')
    .argument('<input>', 'folder root, or the CSV file')
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('--images <dir>', 'image folder (CSV kinds)')
    .option('--source <name>', 'source name (shard prefix, source feature)')
    .option('--label-offset <n>', 'first label of this source', intFlag('--label-offset'), 0)
    .option('--shard-size <n>', 'records per shard', intFlag('--shard-size', 1), 1000)
    .option('--max-per-class <n>', 'keep at most n images per class', intFlag('--max-per-class', 1))
    .option('--min-per-class <n>', 'drop classes with fewer images', intFlag('--min-per-class'), 1)
    .option('--max-classes <n>', 'keep only the n largest classes', intFlag('--max-classes', 1))
    .option('--seed <n>', 'seed for capping and shuffling', intFlag('--seed', -Infinity), 42)
    .option('--schema <name|json>', 'feature names: default, community, or JSON')
    .action(async (kind: SourceKind, input: string, o: Omit<BuildRecordsArgs, 'kind' | 'input'>) => {
      await buildRecordsCommand({ kind, input, ...o });
    });
  program
    .command('inspect-records')
    .description('count and check TFRecord files (CRC, Example features, labels; --decode: every image); exit status 1 on any bad record')
    .argument('<files...>', 'record files or directories')
    .option('--schema <name|json>', 'feature names: default, community, or JSON')
    .option('--decode', 'decode every image too (slower; names each undecodable record)')
    .action(async (files: string[], o: { schema?: string; decode?: boolean }) => {
      await inspectRecordsCommand(files, o);
    });
}
