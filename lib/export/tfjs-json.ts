/**
 * graph.ts structures in tfjs's own forms: nodes as the GraphDef JSON of a tfjs model.json
 * (protobuf JSON: enums by name, int64 as strings, bytes base64) and tensors read off tf.Tensors.
 * The tfjs runner and the packaged-CNN cache both write model.json nodes through here.
 */
import type * as tf from '@tensorflow/tfjs';
import type { AttrValue, DType, GraphNode, HostTensor } from './graph';
import { TF_DTYPE } from './graphdef';

/** A node as tfjs model.json holds it (Const values live in the weights manifest, not here). */
export interface TfjsNodeJson {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, object>;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

export function attrJson(a: AttrValue): object {
  if ('type' in a) return { type: TF_DTYPE[a.type] };
  if ('i' in a) return { i: String(a.i) };
  if ('f' in a) return { f: a.f };
  if ('b' in a) return { b: a.b };
  if ('s' in a) return { s: b64(a.s) };
  if ('shape' in a) return { shape: a.shape === null ? { unknownRank: true } : { dim: a.shape.map((d) => ({ size: String(d) })) } };
  if ('ints' in a) return { list: { i: a.ints.map(String) } };
  if ('types' in a) return { list: { type: a.types.map((t) => TF_DTYPE[t]) } };
  if ('strings' in a) return { list: { s: a.strings.map(b64) } };
  return { tensor: { dtype: TF_DTYPE[a.tensor.dtype], tensorShape: { dim: a.tensor.shape.map((d) => ({ size: String(d) })) } } };
}

export function nodeJson(n: GraphNode): TfjsNodeJson {
  return { name: n.name, op: n.op, input: n.inputs, attr: Object.fromEntries(Object.entries(n.attrs).map(([k, v]) => [k, attrJson(v)])) };
}

/** A float32 or int32 tf.Tensor's values copied to the host. */
export function hostTensor(t: tf.Tensor, name: string): HostTensor {
  const dtype: DType = t.dtype === 'float32' ? 'float32' : t.dtype === 'int32' ? 'int32' : (() => { throw new Error(`weight "${name}" has dtype ${t.dtype} (float32 and int32 supported)`); })();
  const data = t.dataSync();
  return { dtype, shape: t.shape, data: dtype === 'float32' ? Float32Array.from(data as Float32Array) : Int32Array.from(data as Int32Array) };
}
