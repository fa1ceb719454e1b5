/**
 * Writing planned views (plan.ts), rendered by views.ts: TFRecord shards for the sample (one shard at a
 * time, each reported when finished so an interrupted build resumes there), and image folders for the
 * demo and jig galleries (rendered first, then swapped in whole: a half-written folder is never read).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { replaceDirAtomic } from '../../util/atomic';
import { mapLimit } from '../../util/map-limit';
import { progress } from '../../util/progress';
import { DEFAULT_SCHEMA, encodeRecord } from '../schema';
import { TfRecordWriter } from '../tfrecord';
import type { PlannedView, SampleSplitName } from './plan';
import { drawViewParams, renderView, type ViewAugment } from './views';
import { Rng } from '../../util/random';

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

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Reads each source photo once, however many views it has. */
function photoReader(): (file: string) => Buffer {
  const photos = new Map<string, Buffer>();
  return (file) => {
    let b = photos.get(file);
    if (!b) photos.set(file, (b = fs.readFileSync(file)));
    return b;
  };
}

/**
 * Renders every view into `<split>/<split>-XXXXX-of-YYYYY.tfrec` under `outDir`, in a seeded order per split.
 * Shards in `finished` are kept as they are; `onShard` gets the growing list after each new shard.
 */
export async function writeViewShards(
  outDir: string,
  views: PlannedView[],
  o: { seed: number; shardSize: number; size: number; augment: ViewAugment; concurrency: number },
  finished: ShardInfo[],
  onShard: (finished: ShardInfo[]) => void,
): Promise<Record<SampleSplitName, SampleSplit>> {
  const done = [...finished];
  const photo = photoReader();
  const concurrency = o.concurrency;
  const bar = progress({ label: 'sample views', total: views.length });
  const splits = {} as Record<SampleSplitName, SampleSplit>;
  let rendered = 0;
  for (const split of ['train', 'query', 'index'] as const) {
    const list = Rng.fromKey(`${o.seed}/order/${split}`).shuffled(views.filter((v) => v.split === split));
    const nShards = Math.ceil(list.length / o.shardSize);
    const shards: ShardInfo[] = [];
    for (let s = 0; s < nShards; s++) {
      const rel = path.join(split, `${split}-${String(s).padStart(5, '0')}-of-${String(nShards).padStart(5, '0')}.tfrec`);
      const part = list.slice(s * o.shardSize, (s + 1) * o.shardSize);
      const prior = done.find((f) => f.file === rel);
      if (prior) {
        shards.push(prior);
        rendered += part.length;
        bar.update(rendered);
        continue;
      }
      const records = await mapLimit(part, concurrency, async (v) => {
        const image = await renderView(photo(v.file), drawViewParams(Rng.fromKey(v.key), o.augment), o.size).catch((e: Error) => {
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
      done.push(info);
      onShard(done);
    }
    const labels = new Set(list.map((v) => v.label));
    splits[split] = { shards, records: list.length, labelOffset: Math.min(...labels), labels: labels.size };
  }
  bar.stop();
  return splits;
}

/** One image of a folder gallery: where it goes, which photo, and its view's PRNG key. */
export interface FolderView {
  /** Path relative to the folder. */
  rel: string;
  file: string;
  key: string;
}

/**
 * Writes `views` under `dir`, rendered with `augment` (null: each photo's own bytes, unchanged), and
 * `stamp` as `<dir>/build.json`. A folder already holding that stamp is kept (returns false).
 */
export async function writeViewFolders(dir: string, views: FolderView[], o: { augment: ViewAugment | null; size: number; stamp: unknown; concurrency?: number }): Promise<boolean> {
  const stampFile = path.join(dir, 'build.json');
  const stamp = JSON.stringify(o.stamp);
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) return false;
  const photo = photoReader();
  const augment = o.augment;
  const bytes = await mapLimit(views, o.concurrency ?? 2, async (v) =>
    augment
      ? renderView(photo(v.file), drawViewParams(Rng.fromKey(v.key), augment), o.size).catch((e: Error) => {
          throw new Error(`${v.file}: cannot render view ${v.key}: ${e.message}`);
        })
      : photo(v.file),
  );
  replaceDirAtomic(dir, (tmp) => {
    views.forEach((v, i) => {
      fs.mkdirSync(path.dirname(path.join(tmp, v.rel)), { recursive: true });
      fs.writeFileSync(path.join(tmp, v.rel), bytes[i]);
    });
    fs.writeFileSync(path.join(tmp, 'build.json'), stamp);
  });
  return true;
}
