/**
 * tf.train.Example <-> plain JS values, with protobufjs and the project's own example.proto.
 * int64 values are bigint at this edge, so values above 2^53 round-trip exactly.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as protobuf from 'protobufjs';
import { PROJECT_ROOT } from '../util/paths';

export type Feature =
  | { kind: 'bytes'; value: Uint8Array[] }
  | { kind: 'float'; value: number[] }
  | { kind: 'int64'; value: bigint[] };

/** Feature name -> feature, as in tf.train.Features.feature. */
export type Example = Record<string, Feature>;

export const bytesFeature = (...value: Array<Uint8Array | string>): Feature => ({
  kind: 'bytes',
  value: value.map((v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v)),
});
export const floatFeature = (...value: number[]): Feature => ({ kind: 'float', value });
export const int64Feature = (...value: Array<number | bigint>): Feature => ({
  kind: 'int64',
  value: value.map((v) => {
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`int64 feature value ${v} is not a safe integer: pass a bigint`);
    return BigInt(v);
  }),
});

interface PbFeature {
  bytesList?: { value: Uint8Array[] };
  floatList?: { value: number[] };
  int64List?: { value: Array<{ toString(): string } | number | string> };
}
interface PbExample {
  features?: { feature?: Record<string, PbFeature> };
}

/** tsc does not copy .proto files: compiled code reads it from the source tree. */
const PROTO = path.join(PROJECT_ROOT, 'lib', 'data', 'example.proto');

let exampleType: protobuf.Type | undefined;
function ExampleType(): protobuf.Type {
  if (!exampleType) {
    // protobufjs reads int64 exactly (as Long) only when it finds the `long` package, its own dependency.
    if (!protobuf.util.Long) throw new Error('protobufjs cannot find the "long" package: int64 features would lose precision');
    exampleType = protobuf.parse(fs.readFileSync(PROTO, 'utf8'), { keepCase: false }).root.resolveAll().lookupType('tensorflow.Example');
  }
  return exampleType;
}

function toPb(f: Feature): PbFeature {
  switch (f.kind) {
    case 'bytes':
      return { bytesList: { value: f.value } };
    case 'float':
      return { floatList: { value: f.value } };
    case 'int64':
      return { int64List: { value: f.value.map((v) => v.toString()) } };
  }
}

function fromPb(f: PbFeature): Feature {
  if (f.bytesList) return { kind: 'bytes', value: f.bytesList.value.map((b) => new Uint8Array(b)) };
  if (f.floatList) return { kind: 'float', value: Array.from(f.floatList.value) };
  if (f.int64List) return { kind: 'int64', value: f.int64List.value.map((v) => BigInt(v.toString())) };
  // A Feature with no list set: TensorFlow treats it as an empty list of unknown type.
  return { kind: 'bytes', value: [] };
}

export function encodeExample(ex: Example): Uint8Array {
  const feature: Record<string, PbFeature> = {};
  for (const [name, f] of Object.entries(ex)) feature[name] = toPb(f);
  const T = ExampleType();
  return T.encode(T.create({ features: { feature } })).finish();
}

export function decodeExample(bytes: Uint8Array): Example {
  const msg = ExampleType().decode(bytes) as unknown as PbExample;
  const out: Example = {};
  for (const [name, f] of Object.entries(msg.features?.feature ?? {})) out[name] = fromPb(f);
  return out;
}

/** JSON-safe view (bytes as base64, int64 as decimal strings) for inspection and oracle tests. */
export function exampleToJson(ex: Example): Record<string, { kind: Feature['kind']; value: Array<string | number> }> {
  const out: Record<string, { kind: Feature['kind']; value: Array<string | number> }> = {};
  for (const [name, f] of Object.entries(ex)) {
    const value =
      f.kind === 'bytes' ? f.value.map((b) => Buffer.from(b).toString('base64')) : f.kind === 'int64' ? f.value.map((v) => v.toString()) : f.value;
    out[name] = { kind: f.kind, value };
  }
  return out;
}
