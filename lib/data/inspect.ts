/** Per-shard summary of record files: counts, corrupt records, labels, feature names and kinds (and, with decode, undecodable images). */
import * as fs from 'fs';
import { decodeExample, type Feature } from './example';
import { decodeRgb } from './image';
import { DEFAULT_SCHEMA, exampleToRecord, type RecordSchema } from './schema';
import { newReadStats, readTfRecords } from './tfrecord';

export interface ShardSummary {
  file: string;
  bytes: number;
  records: number;
  corrupt: number;
  /** Records that are not Examples in the schema (missing/mistyped features). */
  unreadable: number;
  /** With `decode`: records whose image does not decode. */
  undecodable: number;
  errors: string[];
  /** label -> count. */
  labels: Map<number, number>;
  /** Feature name -> kind, from the first record. */
  features: Record<string, Feature['kind']>;
  sources: Map<string, number>;
}

/** Problems found in a shard: framing/CRC, non-Example or off-schema records, undecodable images. */
export function problems(s: ShardSummary): number {
  return s.corrupt + s.unreadable + s.undecodable;
}

export async function inspectShard(file: string, schema: RecordSchema = DEFAULT_SCHEMA, opts: { decode?: boolean } = {}): Promise<ShardSummary> {
  const stats = newReadStats();
  const s: ShardSummary = { file, bytes: fs.statSync(file).size, records: 0, corrupt: 0, unreadable: 0, undecodable: 0, errors: [], labels: new Map(), features: {}, sources: new Map() };
  let index = 0;
  const note = (m: string) => {
    if (s.errors.length < 5) s.errors.push(m);
  };
  for await (const bytes of readTfRecords(file, { skipCorrupt: true, stats })) {
    const where = `${file} record ${stats.records + stats.corrupt - 1}`;
    let ex;
    try {
      ex = decodeExample(bytes);
    } catch (e) {
      s.unreadable += 1;
      note(`${where}: not a tf.train.Example (${(e as Error).message})`);
      index += 1;
      continue;
    }
    try {
      if (index === 0) for (const [k, f] of Object.entries(ex)) s.features[k] = f.kind;
      const rec = exampleToRecord(ex, schema, where);
      s.labels.set(rec.label, (s.labels.get(rec.label) ?? 0) + 1);
      if (rec.source !== undefined) s.sources.set(rec.source, (s.sources.get(rec.source) ?? 0) + 1);
      if (opts.decode) {
        try {
          await decodeRgb(rec.image, { name: where });
        } catch (e) {
          s.undecodable += 1;
          note((e as Error).message);
        }
      }
    } catch (e) {
      s.unreadable += 1;
      note((e as Error).message);
    }
    index += 1;
  }
  s.records = stats.records;
  s.corrupt = stats.corrupt;
  s.errors.unshift(...stats.errors.map((e) => e.message));
  return s;
}

export function formatSummaries(summaries: ShardSummary[]): string {
  const lines = summaries.map((s) => {
    const labels = [...s.labels.keys()];
    const range = labels.length ? `labels ${Math.min(...labels)}-${Math.max(...labels)} (${labels.length} distinct)` : 'no labels';
    const bad = problems(s) > 0 ? ` corrupt=${s.corrupt} unreadable=${s.unreadable}${s.undecodable ? ` undecodable=${s.undecodable}` : ''}` : '';
    return `${s.file}: ${s.records} records, ${(s.bytes / 1e6).toFixed(1)} MB, ${range}${bad}\n  features: ${Object.entries(s.features).map(([k, v]) => `${k}:${v}`).join(' ')}${s.errors.map((e) => `\n  ! ${e}`).join('')}`;
  });
  const total = summaries.reduce((a, s) => a + s.records, 0);
  const classes = new Set(summaries.flatMap((s) => [...s.labels.keys()])).size;
  const bad = summaries.reduce((a, s) => a + problems(s), 0);
  lines.push(`total: ${total} records in ${summaries.length} files, ${classes} classes${bad ? `; ${bad} bad records (exit status 1)` : ''}`);
  return lines.join('\n');
}
