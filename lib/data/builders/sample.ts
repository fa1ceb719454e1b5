/**
 * Bundled sample data for instance-level retrieval, built at run time from the photo collections of
 * collections.ts (several GUIE domains, each shipped in an npm dependency or fetched from a Debian package
 * into the photo cache; no image is ever copied into the repository). The builder's jobs, one file each:
 * instances (photos.ts: distinct photos), plan (plan.ts: roles dealt round-robin over the domains, so every
 * domain has held-out queries and, where it has photos left, training classes), views (views.ts: seeded,
 * realistic crops, geometry, colour, blur and JPEG quality) and write (write.ts: TFRecord shards). This file
 * ties them together with a host-style solution CSV (domain per query) and a manifest: deterministic for a
 * seed, resumable shard by shard, and reused when called again with the same options.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { loadConfig, type Config } from '../../config';
import { writeFileAtomic, writeJsonAtomic } from '../../util/atomic';
import { PROJECT_ROOT } from '../../util/paths';
import { formatSolutionCsv } from '../../retrieval/solution';
import { DEFAULT_SCHEMA, type RecordSchema } from '../schema';
import { installedCollections } from './collections';
import { distinctPhotos, photoFiles } from './photos';
import { fitToPhotos, planViews, type Instance, type InstanceRoles, type SampleSplitName } from './plan';
import { DEFAULT_VIEW_AUGMENT, type ViewAugment } from './views';
import { sha256File, writeViewShards, type SampleSplit, type ShardInfo } from './write';

export type { SampleSplit, SampleSplitName, ShardInfo };

export interface SampleOptions {
  outDir: string;
  seed?: number;
  /** Instances whose views are training classes. */
  trainInstances?: number;
  /** Instances with one query view set and index views (the evaluation's relevant images). */
  heldOutInstances?: number;
  /** Index-only instances (never relevant to any query), like the host's large index. */
  distractorInstances?: number;
  /** Views per training instance. */
  viewsPerInstance?: number;
  queryViewsPerInstance?: number;
  indexViewsPerInstance?: number;
  distractorViewsPerInstance?: number;
  /** Longer side of each view, pixels. */
  size?: number;
  /** Records per TFRecord shard. */
  shardSize?: number;
  /** Fraction of queries scored on the Public leaderboard (the rest Private). */
  publicFraction?: number;
  augment?: Partial<ViewAugment>;
  /** Domains to draw from (default: every collection installed, see collections.ts). */
  domains?: string[];
  /** Folder of the fetched Debian collections (`<paths.cache>/photos`, filled by `guie fetch-photos`); without it they count as missing. */
  photoCache?: string;
  /** Photo folders by domain, in place of the installed collections (your own folders, tests). */
  photoDirs?: Record<string, string[]>;
  /** Concurrent sharp pipelines. */
  concurrency?: number;
  log?: (message: string) => void;
}

export type ResolvedSampleOptions = Required<Omit<SampleOptions, 'outDir' | 'domains' | 'photoCache' | 'photoDirs' | 'concurrency' | 'log' | 'augment'>> & { augment: ViewAugment };

export const DEFAULT_SAMPLE_OPTIONS: Readonly<Omit<ResolvedSampleOptions, 'augment'>> = Object.freeze({
  seed: 42,
  trainInstances: 960,
  heldOutInstances: 240,
  distractorInstances: 60,
  viewsPerInstance: 4,
  queryViewsPerInstance: 1,
  indexViewsPerInstance: 2,
  distractorViewsPerInstance: 1,
  size: 224,
  shardSize: 256,
  publicFraction: 0.5,
});


export interface SampleSource {
  /** GUIE domain: the records' `source` feature and the solution's domain column. */
  domain: string;
  package: string;
  version: string;
  license: string;
  files: number;
  /** Distinct photos after near-duplicate removal. */
  instances: number;
  /** Instances used by role. */
  train: number;
  heldOut: number;
  distractor: number;
}

export interface SampleManifest {
  kind: 'guie-sample';
  builderVersion: number;
  optionsHash: string;
  options: ResolvedSampleOptions;
  /** One entry per domain drawn from: where its photos came from, under which licence, how many were used. */
  sources: SampleSource[];
  /** Domains asked for whose photos are not on this machine, with the reason (the sample is built without them). */
  missing: string[];
  schema: RecordSchema;
  splits: Record<SampleSplitName, SampleSplit>;
  /** Instance names by role, in label order. */
  instances: InstanceRoles;
  /** Relative path of the host-style solution CSV (query id -> relevant index ids). */
  solution: string;
}

const BUILDER_VERSION = 3; // 3: instances, views and usage drawn from util/random's Rng (one PRNG family)
const MANIFEST = 'manifest.json';
const STATE = 'build-state.json';
const SOLUTION = 'solution.csv';

/** One domain's photos as the builder uses them. */
interface DomainPhotos {
  domain: string;
  source: Omit<SampleSource, 'files' | 'instances' | 'train' | 'heldOut' | 'distractor'>;
  dirs: string[];
}

/** The domains to draw from: the installed collections (or the caller's folders), and the reasons for the missing ones. */
function domainPhotos(opts: Pick<SampleOptions, 'domains' | 'photoDirs' | 'photoCache'>): { domains: DomainPhotos[]; missing: string[] } {
  if (opts.photoDirs) {
    const domains = Object.entries(opts.photoDirs).map(([domain, dirs]) => ({ domain, dirs, source: { domain, package: 'folder', version: '', license: 'as the folder states' } }));
    return { domains: domains.filter((d) => !opts.domains || opts.domains.includes(d.domain)), missing: [] };
  }
  const { found, missing } = installedCollections(opts.domains, opts.photoCache);
  if (found.length === 0) throw new Error(`sample data: no photo collection is installed (${missing.join('; ')})`);
  return { domains: found.map((c) => ({ domain: c.domain, dirs: c.dirs, source: { domain: c.domain, package: c.package, version: c.version, license: c.license } })), missing };
}

export function resolveSampleOptions(opts: Omit<SampleOptions, 'outDir'>): ResolvedSampleOptions {
  const { augment, ...rest } = opts;
  const out = { ...DEFAULT_SAMPLE_OPTIONS } as ResolvedSampleOptions;
  for (const key of Object.keys(DEFAULT_SAMPLE_OPTIONS) as Array<keyof typeof DEFAULT_SAMPLE_OPTIONS>) {
    const v = rest[key];
    if (v !== undefined) (out as unknown as Record<string, number>)[key] = v;
  }
  out.augment = { ...DEFAULT_VIEW_AUGMENT, ...(augment ?? {}) };
  const ints: Array<[keyof ResolvedSampleOptions, number]> = [
    ['seed', 0], ['trainInstances', 1], ['heldOutInstances', 1], ['distractorInstances', 0], ['viewsPerInstance', 1],
    ['queryViewsPerInstance', 1], ['indexViewsPerInstance', 1], ['distractorViewsPerInstance', 1], ['size', 16], ['shardSize', 1],
  ];
  for (const [k, min] of ints) {
    const v = out[k] as number;
    if (!Number.isInteger(v) || v < min) throw new Error(`sample data: option ${k} must be an integer >= ${min}, got ${v}`);
  }
  if (!(out.publicFraction >= 0 && out.publicFraction <= 1)) throw new Error(`sample data: option publicFraction must be in [0,1], got ${out.publicFraction}`);
  return out;
}

/** Options, builder, sharp and the photos themselves (domains, names and sizes) decide the output. */
function hashOptions(o: ResolvedSampleOptions, domains: DomainPhotos[]): string {
  const photos = domains.map((d) => [d.domain, d.source, d.dirs.map((dir) => (fs.existsSync(dir) ? photoFiles(dir).map((f) => `${path.basename(f)}:${fs.statSync(f).size}`) : []))]);
  const key = JSON.stringify({ o, photos, builder: BUILDER_VERSION, sharp: sharp.versions });
  return createHash('sha256').update(key).digest('hex');
}

function shardOk(outDir: string, s: ShardInfo, verify: boolean): boolean {
  const file = path.join(outDir, s.file);
  if (!fs.existsSync(file) || fs.statSync(file).size !== s.bytes) return false;
  return !verify || sha256File(file) === s.sha256;
}

/** Reads a finished sample's manifest; throws naming the file when it is missing or malformed. */
export function readSampleManifest(outDir: string): SampleManifest {
  const file = path.join(outDir, MANIFEST);
  let m: SampleManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as SampleManifest;
  } catch (e) {
    throw new Error(`${file}: cannot read sample manifest (${(e as Error).message})`);
  }
  if (m.kind !== 'guie-sample' || !m.splits?.train || !m.splits.query || !m.splits.index) throw new Error(`${file}: not a sample-data manifest`);
  return m;
}

/** The manifest when outDir holds a complete build for exactly these options (files present, sizes right), else null. */
function reusable(outDir: string, optionsHash: string, verify: boolean): SampleManifest | null {
  if (!fs.existsSync(path.join(outDir, MANIFEST))) return null;
  let m: SampleManifest;
  try {
    m = readSampleManifest(outDir);
  } catch {
    return null;
  }
  if (m.optionsHash !== optionsHash || !fs.existsSync(path.join(outDir, m.solution))) return null;
  const shards = Object.values(m.splits).flatMap((s) => s.shards);
  return shards.every((s) => shardOk(outDir, s, verify)) ? m : null;
}

/**
 * Builds (or reuses) the sample data set in `outDir`:
 *   train/train-XXXXX-of-YYYYY.tfrec, query/..., index/..., solution.csv, manifest.json.
 * Records use DEFAULT_SCHEMA (image/encoded JPEG, image/class/label, image/id, image/source).
 */
export async function buildSampleData(opts: SampleOptions & { verify?: boolean }): Promise<SampleManifest> {
  const o = resolveSampleOptions(opts);
  const outDir = path.resolve(opts.outDir);
  const log = opts.log ?? ((m: string) => console.warn(m));
  const { domains, missing } = domainPhotos(opts);
  const optionsHash = hashOptions(o, domains);
  const done = reusable(outDir, optionsHash, opts.verify ?? false);
  if (done) return done;

  const scanned = await Promise.all(domains.map((d) => distinctPhotos(d.dirs)));
  const byDomain = new Map(
    domains.map((d, k) => {
      const base = path.dirname(path.dirname(d.dirs[0])); // names keep two folder levels: <collection folder>/<file>
      return [d.domain, scanned[k].instances.map((file): Instance => ({ domain: d.domain, file, name: `${d.domain}/${path.relative(base, file).split(path.sep).join('/')}` }))];
    }),
  );
  const used = missing.length > 0 ? fitToPhotos(o, byDomain) : o;
  const { views, roles, solution } = planViews(used, byDomain);

  // Shards finished by an interrupted build with the same options are kept.
  const statePath = path.join(outDir, STATE);
  let finished: ShardInfo[] = [];
  if (fs.existsSync(statePath)) {
    const state = JSON.parse(fs.readFileSync(statePath, 'utf8')) as { optionsHash: string; shards: ShardInfo[] };
    if (state.optionsHash === optionsHash) finished = state.shards.filter((s) => shardOk(outDir, s, true));
  }
  if (finished.length === 0) {
    for (const name of ['train', 'query', 'index', SOLUTION, MANIFEST, STATE]) fs.rmSync(path.join(outDir, name), { recursive: true, force: true });
  } else {
    log(`sample data: resuming in ${outDir} (${finished.length} shards already written)`);
  }
  fs.mkdirSync(outDir, { recursive: true });
  writeJsonAtomic(statePath, { optionsHash, shards: finished });

  const concurrency = opts.concurrency ?? Math.max(2, os.cpus().length);
  const splits = await writeViewShards(outDir, views, { ...o, concurrency }, finished, (done) => writeJsonAtomic(statePath, { optionsHash, shards: done }));

  writeFileAtomic(path.join(outDir, SOLUTION), formatSolutionCsv(solution));
  const manifest: SampleManifest = {
    kind: 'guie-sample',
    builderVersion: BUILDER_VERSION,
    optionsHash,
    options: used,
    sources: domains.map((d, k) => {
      const role = (l: string[]) => l.filter((n) => n.startsWith(`${d.domain}/`)).length;
      return { ...d.source, files: scanned[k].files, instances: scanned[k].instances.length, train: role(roles.train), heldOut: role(roles.heldOut), distractor: role(roles.distractor) };
    }),
    missing,
    schema: { ...DEFAULT_SCHEMA },
    splits,
    instances: roles,
    solution: SOLUTION,
  };
  writeJsonAtomic(path.join(outDir, MANIFEST), manifest);
  fs.rmSync(statePath, { force: true });
  return manifest;
}

/** Default output folder: under the (git-ignored) cache, so no derived image is ever committed. */
export function defaultSampleDir(config: Config = loadConfig()): string {
  return path.resolve(PROJECT_ROOT, config.paths.cache, 'sample');
}

/** `a: why; b: why` -> `a, b: why`. */
function groupMissing(missing: string[]): string {
  const byReason = new Map<string, string[]>();
  for (const m of missing) {
    const [domain, ...rest] = m.split(': ');
    const why = rest.join(': ');
    byReason.set(why, [...(byReason.get(why) ?? []), domain]);
  }
  return [...byReason].map(([why, ds]) => `${ds.join(', ')}: ${why}`).join('; ');
}

/** One line for logs, stage tables and notebooks. */
export function describeSample(m: SampleManifest): string {
  const { train, query, index } = m.splits;
  const photos = m.sources.reduce((a, s) => a + s.instances, 0);
  return (
    `${m.sources.length} domains (${m.sources.map((s) => `${s.domain} ${s.heldOut}/${s.train}`).join(', ')} held-out/train instances), ${photos} distinct photos from ${[...new Set(m.sources.map((s) => s.package))].join(', ')}: ` +
    `train ${train.labels} classes x ${m.options.viewsPerInstance} views = ${train.records}, ` +
    `${query.records} queries, index ${index.records} (${m.options.heldOutInstances} held-out instances x ${m.options.indexViewsPerInstance} + ${m.options.distractorInstances} distractors), ` +
    `${m.options.size} px, seed ${m.options.seed}` +
    (m.missing.length > 0 ? `; without ${groupMissing(m.missing)}` : '')
  );
}
