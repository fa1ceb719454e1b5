/**
 * Bundled sample data for instance-level retrieval, built at run time from the photo collections of
 * collections.ts (several GUIE domains, each shipped in an npm dependency or fetched from a Debian package
 * into the photo cache; no image is ever copied into the repository). Each photo is one instance; seeded, realistic augmentations (crop, scale, rotation,
 * shear, colour, blur, JPEG quality) make its views. Instances are dealt to the held-out, distractor and
 * training roles round-robin over the domains (so every domain has held-out queries and, where it has
 * photos left, training classes), written as TFRecord shards with a host-style solution CSV (domain per
 * query) and a manifest. Deterministic for a seed, resumable shard by shard, and reused when called
 * again with the same options.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { loadConfig, type Config } from '../../config';
import { writeFileAtomic, writeJsonAtomic } from '../../util/atomic';
import { PROJECT_ROOT } from '../../util/paths';
import { progress } from '../../util/progress';
import { formatSolutionCsv, type Solution } from '../../retrieval/solution';
import { DEFAULT_SCHEMA, encodeRecord, type RecordSchema } from '../schema';
import { TfRecordWriter } from '../tfrecord';
import { mapLimit } from '../../util/map-limit';
import { installedCollections } from './collections';
import { distinctPhotos, photoFiles } from './photos';
import { DEFAULT_VIEW_AUGMENT, drawViewParams, renderView, seededRandom, type ViewAugment } from './views';

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

export type SampleSplitName = 'train' | 'query' | 'index';

export interface ShardInfo {
  /** Path relative to the output directory. */
  file: string;
  records: number;
  bytes: number;
  sha256: string;
}

export interface SampleSplit {
  shards: ShardInfo[];
  records: number;
  /** Labels in this split lie in [labelOffset, labelOffset + labels). */
  labelOffset: number;
  labels: number;
}

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
  /** Instance names (`<domain>/<folder>/<file>`) by role, in label order (train label i = train[i]). */
  instances: { train: string[]; heldOut: string[]; distractor: string[] };
  /** Relative path of the host-style solution CSV (query id -> relevant index ids). */
  solution: string;
}

const BUILDER_VERSION = 2;
const MANIFEST = 'manifest.json';
const STATE = 'build-state.json';
const SOLUTION = 'solution.csv';

function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

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

/** A photo as an instance: its domain, file and stable name `<domain>/<folder>/<file>` (the key of its views' PRNG streams). */
interface Instance {
  domain: string;
  file: string;
  name: string;
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

interface PlannedView {
  split: SampleSplitName;
  id: string;
  label: number;
  file: string;
  domain: string;
  /** Key of the view's PRNG stream. */
  key: string;
}

/** With a collection missing, the role counts scaled down to the photos there are (the run goes on with fewer domains). */
function fitToPhotos(o: ResolvedSampleOptions, byDomain: Map<string, Instance[]>): ResolvedSampleOptions {
  const total = [...byDomain.values()].reduce((a, l) => a + l.length, 0);
  const need = o.trainInstances + o.heldOutInstances + o.distractorInstances;
  if (need <= total) return o;
  const f = total / need;
  return { ...o, trainInstances: Math.max(1, Math.floor(o.trainInstances * f)), heldOutInstances: Math.max(1, Math.floor(o.heldOutInstances * f)), distractorInstances: Math.floor(o.distractorInstances * f) };
}

/** Every view, its id, label and split, decided from the seed alone (no image work yet). */
function planViews(o: ResolvedSampleOptions, byDomain: Map<string, Instance[]>): { views: PlannedView[]; roles: SampleManifest['instances']; solution: Solution } {
  const need = o.trainInstances + o.heldOutInstances + o.distractorInstances;
  const total = [...byDomain.values()].reduce((a, l) => a + l.length, 0);
  if (need > total) {
    throw new Error(`sample data: ${o.trainInstances} train + ${o.heldOutInstances} held-out + ${o.distractorInstances} distractor instances = ${need}, but only ${total} distinct photos exist (${[...byDomain].map(([d, l]) => `${d} ${l.length}`).join(', ')})`);
  }
  // each domain's photos in a seeded order, dealt round-robin: every domain gets its share of each role while it has photos
  const queues = [...byDomain].map(([d, l]) => shuffled(l, seededRandom(`${o.seed}/instances/${d}`)));
  let q = 0; // the deal goes on round the table from role to role, so no domain is always first
  const deal = (n: number): Instance[] => {
    const out: Instance[] = [];
    for (; out.length < n; q = (q + 1) % queues.length) if (queues[q].length > 0) out.push(queues[q].shift()!);
    return out;
  };
  const heldOut = deal(o.heldOutInstances);
  const distractor = deal(o.distractorInstances);
  const train = deal(o.trainInstances);
  const ids = new Set<string>();
  const id = (key: string) => {
    const v = createHash('sha256').update(`${o.seed}/id/${key}`).digest('hex').slice(0, 16);
    if (ids.has(v)) throw new Error(`sample data: id collision for ${key}`);
    ids.add(v);
    return v;
  };
  const views: PlannedView[] = [];
  const add = (split: SampleSplitName, instances: Instance[], labelOffset: number, n: number, role: string) => {
    instances.forEach((inst, i) => {
      for (let v = 0; v < n; v++) {
        const key = `${o.seed}/${role}/${inst.name}/${v}`;
        views.push({ split, id: id(key), label: labelOffset + i, file: inst.file, domain: inst.domain, key });
      }
    });
  };
  add('train', train, 0, o.viewsPerInstance, 'train');
  add('query', heldOut, o.trainInstances, o.queryViewsPerInstance, 'query');
  add('index', heldOut, o.trainInstances, o.indexViewsPerInstance, 'index');
  add('index', distractor, o.trainInstances + o.heldOutInstances, o.distractorViewsPerInstance, 'distractor');

  const queries = shuffled(views.filter((v) => v.split === 'query'), seededRandom(`${o.seed}/usage`));
  const nPublic = Math.round(o.publicFraction * queries.length);
  const solution: Solution = { relevant: new Map(), usage: new Map(), domain: new Map() };
  const indexByLabel = new Map<number, string[]>();
  for (const v of views) if (v.split === 'index') indexByLabel.set(v.label, [...(indexByLabel.get(v.label) ?? []), v.id]);
  queries.forEach((q, i) => {
    solution.relevant.set(q.id, indexByLabel.get(q.label)!);
    solution.usage.set(q.id, i < nPublic ? 'Public' : 'Private');
    solution.domain.set(q.id, q.domain);
  });
  const names = (l: Instance[]) => l.map((x) => x.name);
  return { views, roles: { train: names(train), heldOut: names(heldOut), distractor: names(distractor) }, solution };
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
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

  const photos = new Map<string, Buffer>();
  const photo = (file: string) => {
    let b = photos.get(file);
    if (!b) photos.set(file, (b = fs.readFileSync(file)));
    return b;
  };
  const concurrency = opts.concurrency ?? Math.max(2, os.cpus().length);
  const bar = progress({ label: 'sample views', total: views.length });
  const splits = {} as Record<SampleSplitName, SampleSplit>;
  let rendered = 0;
  for (const split of ['train', 'query', 'index'] as const) {
    const list = shuffled(views.filter((v) => v.split === split), seededRandom(`${o.seed}/order/${split}`));
    const nShards = Math.ceil(list.length / o.shardSize);
    const shards: ShardInfo[] = [];
    for (let s = 0; s < nShards; s++) {
      const rel = path.join(split, `${split}-${String(s).padStart(5, '0')}-of-${String(nShards).padStart(5, '0')}.tfrec`);
      const part = list.slice(s * o.shardSize, (s + 1) * o.shardSize);
      const prior = finished.find((f) => f.file === rel);
      if (prior) {
        shards.push(prior);
        rendered += part.length;
        bar.update(rendered);
        continue;
      }
      const records = await mapLimit(part, concurrency, async (v) => {
        const image = await renderView(photo(v.file), drawViewParams(seededRandom(v.key), o.augment), o.size).catch((e: Error) => {
          throw new Error(`sample data: ${v.file}: cannot render view ${v.key}: ${e.message}`);
        });
        bar.update(++rendered);
        return encodeRecord({ image, label: v.label, id: v.id, source: v.domain }, DEFAULT_SCHEMA);
      });
      const writer = new TfRecordWriter(path.join(outDir, rel));
      for (const r of records) writer.write(r);
      writer.close();
      const info: ShardInfo = { file: rel, records: writer.records, bytes: writer.size, sha256: sha256File(path.join(outDir, rel)) };
      shards.push(info);
      finished.push(info);
      writeJsonAtomic(statePath, { optionsHash, shards: finished });
    }
    const labels = new Set(list.map((v) => v.label));
    splits[split] = { shards, records: list.length, labelOffset: Math.min(...labels), labels: labels.size };
  }
  bar.stop();

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
