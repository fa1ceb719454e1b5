/**
 * The plan of a sample: which instance plays which role (training class, held-out query + index
 * views, distractor), every view's id, label, split and PRNG key, and the host-style solution,
 * decided from the seed alone, before any image work (views.ts renders them, write.ts writes them).
 */
import { createHash } from 'crypto';
import type { Solution } from '../../retrieval/solution';
import { Rng } from '../../util/random';

export type SampleSplitName = 'train' | 'query' | 'index';

export interface PlanOptions {
  seed: number;
  /** Instances whose views are training classes. */
  trainInstances: number;
  /** Instances with query views and index views (the evaluation's relevant images). */
  heldOutInstances: number;
  /** Index-only instances (never relevant to any query), like the host's large index. */
  distractorInstances: number;
  viewsPerInstance: number;
  queryViewsPerInstance: number;
  indexViewsPerInstance: number;
  distractorViewsPerInstance: number;
  /** Fraction of queries scored on the Public leaderboard (the rest Private). */
  publicFraction: number;
}

/** A photo as an instance: its domain, file and stable name `<domain>/<folder>/<file>` (the key of its views' PRNG streams). */
export interface Instance {
  domain: string;
  file: string;
  name: string;
}

/** Instance names (`<domain>/<folder>/<file>`) by role, in label order (train label i = train[i]). */
export interface InstanceRoles {
  train: string[];
  heldOut: string[];
  distractor: string[];
}


export interface PlannedView {
  split: SampleSplitName;
  id: string;
  label: number;
  file: string;
  domain: string;
  /** Key of the view's PRNG stream. */
  key: string;
}

/** With a collection missing, the role counts scaled down to the photos there are (the run goes on with fewer domains). */
export function fitToPhotos<O extends PlanOptions>(o: O, byDomain: Map<string, Instance[]>): O {
  const total = [...byDomain.values()].reduce((a, l) => a + l.length, 0);
  const need = o.trainInstances + o.heldOutInstances + o.distractorInstances;
  if (need <= total) return o;
  const f = total / need;
  return { ...o, trainInstances: Math.max(1, Math.floor(o.trainInstances * f)), heldOutInstances: Math.max(1, Math.floor(o.heldOutInstances * f)), distractorInstances: Math.floor(o.distractorInstances * f) };
}

/** Every view, its id, label and split, decided from the seed alone (no image work yet). */
export function planViews(o: PlanOptions, byDomain: Map<string, Instance[]>): { views: PlannedView[]; roles: InstanceRoles; solution: Solution } {
  const need = o.trainInstances + o.heldOutInstances + o.distractorInstances;
  const total = [...byDomain.values()].reduce((a, l) => a + l.length, 0);
  if (need > total) {
    throw new Error(`sample data: ${o.trainInstances} train + ${o.heldOutInstances} held-out + ${o.distractorInstances} distractor instances = ${need}, but only ${total} distinct photos exist (${[...byDomain].map(([d, l]) => `${d} ${l.length}`).join(', ')})`);
  }
  // each domain's photos in a seeded order, dealt round-robin: every domain gets its share of each role while it has photos
  const queues = [...byDomain].map(([d, l]) => Rng.fromKey(`${o.seed}/instances/${d}`).shuffled(l));
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

  const queries = Rng.fromKey(`${o.seed}/usage`).shuffled(views.filter((v) => v.split === 'query'));
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
