/** Per-shard summary of record files: counts, corrupt records, labels, feature names and kinds. */
import * as fs from 'fs';
import { decodeExample, type Feature } from './example';
import { DEFAULT_SCHEMA, exampleToRecord, type RecordSchema } from './schema';
import { newReadStats, readTfRecords } from './tfrecord';

export interface ShardSummary {
  file: string;
  bytes: number;
  records: number;
  corrupt: number;
  /** Records that are not Examples in the schema (missing/mistyped features). */
  unreadable: number;
  errors: string[];
  /** label -> count. */
  labels: Map<number, number>;
  /** Feature name -> kind, from the first record. */
  features: Record<string, Feature['kind']>;
  sources: Map<string, number>;
}

export async function inspectShard(file: string, schema: RecordSchema = DEFAULT_SCHEMA): Promise<ShardSummary> {
  const stats = newReadStats();
  const s: ShardSummary = { file, bytes: fs.statSync(file).size, records: 0, corrupt: 0, unreadable: 0, errors: [], labels: new Map(), features: {}, sources: new Map() };
  let index = 0;
  for await (const bytes of readTfRecords(file, { skipCorrupt: true, stats })) {
    try {
      const ex = decodeExample(bytes);
      if (index === 0) for (const [k, f] of Object.entries(ex)) s.features[k] = f.kind;
      const rec = exampleToRecord(ex, schema, `${file} record ${stats.records + stats.corrupt - 1}`);
      s.labels.set(rec.label, (s.labels.get(rec.label) ?? 0) + 1);
      if (rec.source !== undefined) s.sources.set(rec.source, (s.sources.get(rec.source) ?? 0) + 1);
    } catch (e) {
      s.unreadable += 1;
      if (s.errors.length < 5) s.errors.push((e as Error).message);
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
    const bad = s.corrupt || s.unreadable ? ` corrupt=${s.corrupt} unreadable=${s.unreadable}` : '';
    return `${s.file}: ${s.records} records, ${(s.bytes / 1e6).toFixed(1)} MB, ${range}${bad}\n  features: ${Object.entries(s.features).map(([k, v]) => `${k}:${v}`).join(' ')}${s.errors.map((e) => `\n  ! ${e}`).join('')}`;
  });
  const total = summaries.reduce((a, s) => a + s.records, 0);
  const classes = new Set(summaries.flatMap((s) => [...s.labels.keys()])).size;
  lines.push(`total: ${total} records in ${summaries.length} files, ${classes} classes`);
  return lines.join('\n');
}
