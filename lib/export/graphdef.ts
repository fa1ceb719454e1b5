/**
 * Graph <-> tensorflow.GraphDef (as protobufjs plain objects): the one translation between our
 * node structs and TensorFlow's wire format, used by the SavedModel writer and reader.
 */
import type { AttrValue, DType, GraphNode, HostTensor, TensorData } from './graph';
import { numel } from '../core/layout';

export const TF_DTYPE: Record<DType, string> = {
  float32: 'DT_FLOAT',
  float64: 'DT_DOUBLE',
  int32: 'DT_INT32',
  uint8: 'DT_UINT8',
  int64: 'DT_INT64',
  bool: 'DT_BOOL',
  string: 'DT_STRING',
};

const FROM_TF_DTYPE: Record<string, DType> = Object.fromEntries(Object.entries(TF_DTYPE).map(([k, v]) => [v, k as DType]));

export function dtypeFromTf(name: string, where: string): DType {
  const d = FROM_TF_DTYPE[name];
  if (!d) throw new Error(`${where}: unsupported dtype ${name}`);
  return d;
}

export const BYTES_PER: Record<DType, number> = { float32: 4, float64: 8, int32: 4, uint8: 1, int64: 8, bool: 1, string: 0 };

export interface ShapeProto { dim?: { size?: number }[]; unknownRank?: boolean }

export interface TensorProtoObj {
  dtype?: string;
  tensorShape?: ShapeProto;
  tensorContent?: Uint8Array;
  floatVal?: number[];
  intVal?: number[];
  int64Val?: number[];
  boolVal?: boolean[];
  stringVal?: Uint8Array[];
}

export interface AttrObj {
  s?: Uint8Array;
  i?: number;
  f?: number;
  b?: boolean;
  type?: string;
  shape?: ShapeProto;
  tensor?: TensorProtoObj;
  list?: { s?: Uint8Array[]; i?: number[]; type?: string[]; shape?: ShapeProto[] };
}

export interface NodeDefObj {
  name: string;
  op: string;
  input?: string[];
  device?: string;
  attr?: Record<string, AttrObj>;
}

export function shapeToProto(shape: number[] | null): ShapeProto {
  return shape === null ? { unknownRank: true } : { dim: shape.map((size) => ({ size })) };
}

export function shapeFromProto(s: ShapeProto | undefined): number[] | null {
  if (!s || s.unknownRank) return s ? null : [];
  return (s.dim ?? []).map((d) => Number(d.size ?? 0));
}

export function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Copies bytes into a fresh typed array (Buffer slices may be unaligned for Float32Array). */
export function typedFromBytes(dtype: DType, bytes: Uint8Array, what: string): TensorData {
  const copy = new Uint8Array(bytes).buffer;
  switch (dtype) {
    case 'float32': return new Float32Array(copy);
    case 'int32': return new Int32Array(copy);
    case 'uint8': case 'bool': return new Uint8Array(copy);
    default: throw new Error(`${what}: cannot hold ${dtype} values`);
  }
}

export function tensorToProto(t: HostTensor): TensorProtoObj {
  return { dtype: TF_DTYPE[t.dtype], tensorShape: shapeToProto(t.shape), tensorContent: bytesOf(t.data) };
}

/** Reads content or the *_val forms (a single value broadcasts, as TensorFlow does for Const). */
export function tensorFromProto(p: TensorProtoObj, what: string): HostTensor {
  const dtype = dtypeFromTf(p.dtype ?? 'DT_INVALID', what);
  const shape = shapeFromProto(p.tensorShape) ?? [];
  const n = numel(shape);
  if (p.tensorContent && p.tensorContent.length > 0) {
    const data = typedFromBytes(dtype, p.tensorContent, what);
    if (data.length !== n) throw new Error(`${what}: tensor_content holds ${data.length} values for shape [${shape}]`);
    return { dtype, shape, data };
  }
  const vals: number[] = dtype === 'float32' ? p.floatVal ?? [] : dtype === 'bool' ? (p.boolVal ?? []).map(Number) : dtype === 'int64' ? p.int64Val ?? [] : p.intVal ?? [];
  const data = dtype === 'float32' ? new Float32Array(n) : dtype === 'int32' ? new Int32Array(n) : dtype === 'uint8' || dtype === 'bool' ? new Uint8Array(n) : null;
  if (!data) throw new Error(`${what}: cannot hold ${dtype} values`);
  for (let k = 0; k < n; k++) data[k] = vals.length === 0 ? 0 : vals[Math.min(k, vals.length - 1)];
  return { dtype, shape, data };
}

const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const dec = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

export function attrToProto(a: AttrValue): AttrObj {
  if ('type' in a) return { type: TF_DTYPE[a.type] };
  if ('i' in a) return { i: a.i };
  if ('f' in a) return { f: a.f };
  if ('b' in a) return { b: a.b };
  if ('s' in a) return { s: enc(a.s) };
  if ('shape' in a) return { shape: shapeToProto(a.shape) };
  if ('ints' in a) return { list: { i: a.ints } };
  if ('types' in a) return { list: { type: a.types.map((t) => TF_DTYPE[t]) } };
  if ('strings' in a) return { list: { s: a.strings.map(enc) } };
  return { tensor: tensorToProto(a.tensor) };
}

export function attrFromProto(a: AttrObj, what: string): AttrValue {
  if (a.tensor !== undefined) return { tensor: tensorFromProto(a.tensor, what) };
  if (a.type !== undefined) return { type: dtypeFromTf(a.type, what) };
  if (a.i !== undefined) return { i: Number(a.i) };
  if (a.f !== undefined) return { f: a.f };
  if (a.b !== undefined) return { b: a.b };
  if (a.s !== undefined) return { s: dec(a.s) };
  if (a.shape !== undefined) return { shape: shapeFromProto(a.shape) };
  const l = a.list ?? {};
  if (l.type?.length) return { types: l.type.map((t) => dtypeFromTf(t, what)) };
  if (l.s?.length) return { strings: l.s.map(dec) };
  return { ints: (l.i ?? []).map(Number) };
}

export function nodeToProto(n: GraphNode): NodeDefObj {
  return { name: n.name, op: n.op, input: n.inputs, attr: Object.fromEntries(Object.entries(n.attrs).map(([k, v]) => [k, attrToProto(v)])) };
}

export function nodeFromProto(n: NodeDefObj): GraphNode {
  const attrs: Record<string, AttrValue> = {};
  for (const [k, v] of Object.entries(n.attr ?? {})) {
    if (k.startsWith('_')) continue; // TensorFlow-internal annotations (_output_shapes, _class)
    attrs[k] = attrFromProto(v, `node "${n.name}" (${n.op}) attr ${k}`);
  }
  return { name: n.name, op: n.op, inputs: n.input ?? [], attrs };
}
