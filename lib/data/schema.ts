/**
 * The record schema used across the project: one tf.train.Example per image with the encoded
 * image bytes, an integer label and optional id and source. Feature names are configurable so
 * community GUIE TFRecords (other naming conventions) read through the same code.
 */
import { bytesFeature, decodeExample, encodeExample, int64Feature, type Example, type Feature } from './example';

export interface RecordSchema {
  image: string;
  label: string;
  id?: string;
  source?: string;
}

/** What this project's builders write (TF Object Detection API naming). */
export const DEFAULT_SCHEMA: Readonly<RecordSchema> = Object.freeze({
  image: 'image/encoded',
  label: 'image/class/label',
  id: 'image/id',
  source: 'image/source',
});

/** Named presets for records made by others; pass a custom RecordSchema for anything else. */
export const SCHEMAS: Record<string, Readonly<RecordSchema>> = {
  default: DEFAULT_SCHEMA,
  /** Flat names common in Kaggle TF/TPU notebooks; not verified against every GUIE data set: check with inspect-records. */
  community: Object.freeze({ image: 'image', label: 'target', id: 'image_name' }),
};

export interface ImageRecord {
  image: Uint8Array;
  label: number;
  id?: string;
  source?: string;
}

export function parseSchema(nameOrJson: string): RecordSchema {
  const preset = SCHEMAS[nameOrJson];
  if (preset) return { ...preset };
  let raw: unknown;
  try {
    raw = JSON.parse(nameOrJson);
  } catch {
    throw new Error(`unknown record schema "${nameOrJson}" (presets: ${Object.keys(SCHEMAS).join(', ')}; or JSON like {"image":"img","label":"cls"})`);
  }
  const r = raw as Partial<RecordSchema>;
  if (typeof r !== 'object' || r === null || typeof r.image !== 'string' || typeof r.label !== 'string') {
    throw new Error(`record schema ${nameOrJson}: needs string fields "image" and "label"`);
  }
  return { image: r.image, label: r.label, id: r.id, source: r.source };
}

export function recordToExample(rec: ImageRecord, schema: RecordSchema = DEFAULT_SCHEMA): Example {
  const ex: Example = { [schema.image]: bytesFeature(rec.image), [schema.label]: int64Feature(rec.label) };
  if (schema.id && rec.id !== undefined) ex[schema.id] = bytesFeature(rec.id);
  if (schema.source && rec.source !== undefined) ex[schema.source] = bytesFeature(rec.source);
  return ex;
}

export function encodeRecord(rec: ImageRecord, schema: RecordSchema = DEFAULT_SCHEMA): Uint8Array {
  return encodeExample(recordToExample(rec, schema));
}

function single(f: Feature | undefined, name: string, kind: Feature['kind'], where: string): Feature['value'][number] {
  if (!f) throw new Error(`${where}: missing feature "${name}"`);
  if (f.kind !== kind) throw new Error(`${where}: feature "${name}" is ${f.kind}, expected ${kind}`);
  if (f.value.length !== 1) throw new Error(`${where}: feature "${name}" has ${f.value.length} values, expected 1`);
  return f.value[0];
}

function optionalText(ex: Example, name: string | undefined, where: string): string | undefined {
  if (!name || !ex[name] || ex[name].value.length === 0) return undefined;
  const f = ex[name];
  // Some writers store ids as int64.
  if (f.kind === 'int64') return f.value[0].toString();
  return Buffer.from(single(f, name, 'bytes', where) as Uint8Array).toString('utf8');
}

/** Example -> ImageRecord; `where` (e.g. "shard.tfrec record 12") goes into every error message. */
export function exampleToRecord(ex: Example, schema: RecordSchema = DEFAULT_SCHEMA, where = 'record'): ImageRecord {
  const image = single(ex[schema.image], schema.image, 'bytes', where) as Uint8Array;
  const label = single(ex[schema.label], schema.label, 'int64', where) as bigint;
  if (label > BigInt(Number.MAX_SAFE_INTEGER) || label < 0n) throw new Error(`${where}: label ${label} out of range`);
  return { image, label: Number(label), id: optionalText(ex, schema.id, where), source: optionalText(ex, schema.source, where) };
}

export function decodeRecord(bytes: Uint8Array, schema: RecordSchema = DEFAULT_SCHEMA, where = 'record'): ImageRecord {
  let ex: Example;
  try {
    ex = decodeExample(bytes);
  } catch (e) {
    throw new Error(`${where}: not a tf.train.Example (${(e as Error).message})`);
  }
  return exampleToRecord(ex, schema, where);
}
