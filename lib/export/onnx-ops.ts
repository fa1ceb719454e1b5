/**
 * One TF op -> its ONNX nodes (opset 17): the op table of lib/export/onnx.ts. NHWC ops (Conv2D, pools) are
 * wrapped in Transposes to ONNX's NCHW; ONNX Runtime's optimiser cancels the back-to-back pairs.
 */
import { onnx } from 'onnx-proto';
import type { DType, GraphNode, HostTensor } from './graph';
import { nodeOf, outputIndex } from './graph';
import { bytesOf } from './graphdef';

const INT64_MAX = 9223372036854775807n;

export const ONNX_TYPE: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int32: onnx.TensorProto.DataType.INT32,
  uint8: onnx.TensorProto.DataType.UINT8,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
  string: onnx.TensorProto.DataType.STRING,
};

type Attr = onnx.IAttributeProto;
const A = onnx.AttributeProto.AttributeType;
const ints = (name: string, v: number[]): Attr => ({ name, type: A.INTS, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: A.INT, i: v });
const str = (name: string, v: string): Attr => ({ name, type: A.STRING, s: Buffer.from(v) });

function int64Tensor(name: string, values: (number | bigint)[], dims: number[] = [values.length]): onnx.ITensorProto {
  const raw = Buffer.alloc(8 * values.length);
  values.forEach((v, k) => raw.writeBigInt64LE(BigInt(v), 8 * k));
  return { name, dims, dataType: onnx.TensorProto.DataType.INT64, rawData: raw };
}

/** Translation state: ONNX nodes, initializers, and each TF tensor's rank (for rank-dependent perms). */
export class Ctx {
  readonly nodes: onnx.INodeProto[] = [];
  readonly inits: onnx.ITensorProto[] = [];
  readonly rank = new Map<string, number>();
  readonly consts = new Map<string, HostTensor>();
  /** Lengths of the vectors Pack builds from scalars (run-time shapes). */
  readonly packed = new Map<string, number>();
  private n = 0;

  /** TF tensor name -> ONNX value name ("node" for output 0, "node:k" otherwise). */
  value(tfName: string): string {
    const k = outputIndex(tfName);
    return k === 0 ? nodeOf(tfName) : `${nodeOf(tfName)}:${k}`;
  }
  tmp(base: string): string {
    return `${base}/_onnx_${this.n++}`;
  }
  emit(opType: string, inputs: string[], outputs: string[], attribute: Attr[] = [], name = outputs[0]): string {
    this.nodes.push({ opType, input: inputs, output: outputs, attribute, name });
    return outputs[0];
  }
  constOf(tfName: string, what: string): HostTensor {
    const c = this.consts.get(nodeOf(tfName));
    if (!c) throw new Error(`ONNX export: ${what} must be a Const, got "${tfName}"`);
    return c;
  }
  int64Init(base: string, values: (number | bigint)[]): string {
    const name = this.tmp(base);
    this.inits.push(int64Tensor(name, values));
    return name;
  }
  transpose(x: string, perm: number[], base: string): string {
    return this.emit('Transpose', [x], [this.tmp(base)], [ints('perm', perm)]);
  }
}

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

function sAttr(n: GraphNode, k: string): string | undefined {
  const a = n.attrs[k];
  return a && 's' in a ? a.s : undefined;
}
function bAttr(n: GraphNode, k: string): boolean {
  const a = n.attrs[k];
  return !!a && 'b' in a && a.b;
}
function iList(n: GraphNode, k: string): number[] {
  const a = n.attrs[k];
  return a && 'ints' in a ? a.ints : [];
}

/** TF "SAME"/"VALID" -> ONNX auto_pad (TF's SAME puts the odd pixel at the end: SAME_UPPER). */
function padAttr(n: GraphNode): Attr[] {
  const p = sAttr(n, 'padding');
  if (p === 'SAME') return [str('auto_pad', 'SAME_UPPER')];
  if (p === 'VALID') return [ints('pads', [0, 0, 0, 0])];
  throw new Error(`ONNX export: node "${n.name}" (${n.op}) has padding ${p}`);
}

function requireNhwc(n: GraphNode): void {
  const f = sAttr(n, 'data_format');
  if (f && f !== 'NHWC') throw new Error(`ONNX export: node "${n.name}" (${n.op}) uses data_format ${f}; only NHWC is supported`);
}

/** Emits the ONNX nodes for one TF node; returns its output's rank. */
export function translate(c: Ctx, n: GraphNode): number {
  const out = c.value(n.name);
  const ins = n.inputs.filter((i) => !i.startsWith('^'));
  const x = ins.map((i) => c.value(i));
  const r = (i: number): number => c.rank.get(c.value(ins[i])) ?? 0;
  // FloorDiv/FloorMod only on the non-negative int32 size arithmetic of the preprocessing, where Div truncates = floors
  const elementwise: Record<string, string> = {
    AddV2: 'Add', Add: 'Add', BiasAdd: 'Add', Sub: 'Sub', Mul: 'Mul', RealDiv: 'Div', Maximum: 'Max', Minimum: 'Min', Pow: 'Pow', FloorDiv: 'Div', FloorMod: 'Mod',
    Less: 'Less', Greater: 'Greater', GreaterEqual: 'GreaterOrEqual', Equal: 'Equal', LogicalAnd: 'And', SelectV2: 'Where',
  };
  const unary: Record<string, string> = { Erf: 'Erf', Sigmoid: 'Sigmoid', Relu: 'Relu', Tanh: 'Tanh', Sqrt: 'Sqrt', Exp: 'Exp', Identity: 'Identity', Neg: 'Neg', Floor: 'Floor', Abs: 'Abs', Sign: 'Sign' };
  if (n.op in elementwise) {
    if (n.op === 'BiasAdd') requireNhwc(n);
    c.emit(elementwise[n.op], x, [out]);
    return Math.max(...ins.map((_, k) => r(k)));
  }
  if (n.op in unary) {
    c.emit(unary[n.op], x, [out]);
    return r(0);
  }
  switch (n.op) {
    case 'Cast': {
      const to = n.attrs.DstT;
      if (!to || !('type' in to)) throw new Error(`ONNX export: Cast "${n.name}" has no DstT`);
      c.emit('Cast', x, [out], [int('to', ONNX_TYPE[to.type])]);
      return r(0);
    }
    case 'Range':
      c.emit('Range', x, [out]);
      return 1;
    case 'Square':
      c.emit('Mul', [x[0], x[0]], [out]);
      return r(0);
    case 'Rsqrt':
      c.emit('Reciprocal', [c.emit('Sqrt', x, [c.tmp(n.name)])], [out]);
      return r(0);
    case 'Relu6':
      c.emit('Clip', [x[0], c.value(ensureScalar(c, n.name, 0)), c.value(ensureScalar(c, n.name, 6))], [out]);
      return r(0);
    case 'Softmax':
      c.emit('Softmax', x, [out], [int('axis', -1)]);
      return r(0);
    case 'Reshape': {
      if (!c.consts.has(nodeOf(ins[1]))) {
        // a shape assembled at run time (Pack of scalars): its length is the output rank
        const rank = c.packed.get(c.value(ins[1]));
        if (rank === undefined) throw new Error(`ONNX export: Reshape "${n.name}" needs a Const or Pack shape`);
        c.emit('Reshape', [x[0], c.emit('Cast', [x[1]], [c.tmp(n.name)], [int('to', ONNX_TYPE.int64)])], [out]);
        return rank;
      }
      const shape = Array.from(c.constOf(ins[1], `Reshape "${n.name}" shape`).data);
      c.emit('Reshape', [x[0], c.int64Init(n.name, shape)], [out]);
      return shape.length;
    }
    case 'Transpose': {
      const perm = Array.from(c.constOf(ins[1], `Transpose "${n.name}" perm`).data);
      c.emit('Transpose', [x[0]], [out], [ints('perm', perm)]);
      return perm.length;
    }
    case 'Shape':
      c.emit('Cast', [c.emit('Shape', x, [c.tmp(n.name)])], [out], [int('to', ONNX_TYPE.int32)]);
      return 1;
    case 'GatherV2': {
      const axis = c.constOf(ins[2], `GatherV2 "${n.name}" axis`).data[0];
      c.emit('Gather', [x[0], x[1]], [out], [int('axis', axis)]);
      return r(0) - 1 + r(1);
    }
    case 'Pack': {
      const axis = 'i' in (n.attrs.axis ?? {}) ? (n.attrs.axis as { i: number }).i : 0;
      const parts = x.map((v) => c.emit('Unsqueeze', [v, c.int64Init(n.name, [axis])], [c.tmp(n.name)]));
      c.emit('Concat', parts, [out], [int('axis', axis)]);
      if (r(0) === 0) c.packed.set(out, x.length);
      return r(0) + 1;
    }
    case 'Slice': {
      if (!c.consts.has(nodeOf(ins[1])) || !c.consts.has(nodeOf(ins[2]))) {
        // runtime begin/size: ends = begin + size, or "to the end" where size is -1
        const starts = c.emit('Cast', [x[1]], [c.tmp(n.name)], [int('to', ONNX_TYPE.int64)]);
        const size = c.emit('Cast', [x[2]], [c.tmp(n.name)], [int('to', ONNX_TYPE.int64)]);
        const toEnd = c.emit('Equal', [size, c.int64Init(n.name, [-1])], [c.tmp(n.name)]);
        const ends = c.emit('Where', [toEnd, c.int64Init(n.name, [INT64_MAX]), c.emit('Add', [starts, size], [c.tmp(n.name)])], [c.tmp(n.name)]);
        const axes = c.int64Init(n.name, [...Array(r(0)).keys()]);
        c.emit('Slice', [x[0], starts, ends, axes], [out]);
        return r(0);
      }
      const begin = Array.from(c.constOf(ins[1], `Slice "${n.name}" begin`).data);
      const size = Array.from(c.constOf(ins[2], `Slice "${n.name}" size`).data);
      const ends = size.map((s, k) => (s === -1 ? INT64_MAX : BigInt(begin[k] + s)));
      c.emit('Slice', [x[0], c.int64Init(n.name, begin), c.int64Init(n.name, ends), c.int64Init(n.name, begin.map((_, k) => k))], [out]);
      return r(0);
    }
    case 'ConcatV2': {
      const axis = c.constOf(ins[ins.length - 1], `ConcatV2 "${n.name}" axis`).data[0];
      c.emit('Concat', x.slice(0, -1), [out], [int('axis', axis)]);
      return r(0);
    }
    case 'Mean':
    case 'Sum': {
      const axes = Array.from(c.constOf(ins[1], `${n.op} "${n.name}" axes`).data);
      const keep = bAttr(n, 'keep_dims');
      if (n.op === 'Mean') c.emit('ReduceMean', [x[0]], [out], [ints('axes', axes), int('keepdims', keep ? 1 : 0)]);
      else c.emit('ReduceSum', [x[0], c.int64Init(n.name, axes)], [out], [int('keepdims', keep ? 1 : 0)]);
      return keep ? r(0) : r(0) - axes.length;
    }
    case 'MatMul':
    case 'BatchMatMulV2':
    case 'BatchMatMul': {
      const [ta, tb] = n.op === 'MatMul' ? [bAttr(n, 'transpose_a'), bAttr(n, 'transpose_b')] : [bAttr(n, 'adj_x'), bAttr(n, 'adj_y')];
      const swapLast = (v: string, rank: number): string => c.transpose(v, [...Array(rank - 2).keys(), rank - 1, rank - 2], n.name);
      c.emit('MatMul', [ta ? swapLast(x[0], r(0)) : x[0], tb ? swapLast(x[1], r(1)) : x[1]], [out]);
      return Math.max(r(0), r(1));
    }
    case 'Conv2D':
    case 'DepthwiseConv2dNative': {
      requireNhwc(n);
      const f = c.constOf(ins[1], `${n.op} "${n.name}" filter`);
      const [kh, kw, cin, cout] = f.shape;
      const depthwise = n.op === 'DepthwiseConv2dNative';
      // HWIO -> OIHW; depthwise [kh,kw,C,mult] -> [C*mult,1,kh,kw] with group = C
      const o = depthwise ? cin * cout : cout;
      const i = depthwise ? 1 : cin;
      const w = new Float32Array(f.data.length);
      for (let y = 0; y < kh; y++) for (let xx = 0; xx < kw; xx++) for (let a = 0; a < cin; a++) for (let b = 0; b < cout; b++) {
        const src = ((y * kw + xx) * cin + a) * cout + b;
        const [oo, ii] = depthwise ? [a * cout + b, 0] : [b, a];
        w[((oo * i + ii) * kh + y) * kw + xx] = f.data[src];
      }
      const wName = c.tmp(`${nodeOf(ins[1])}/oihw`);
      c.inits.push({ name: wName, dims: [o, i, kh, kw], dataType: ONNX_TYPE.float32, rawData: bytesOf(w) });
      const strides = iList(n, 'strides');
      const dil = iList(n, 'dilations');
      const attrs = [ints('strides', [strides[1] ?? 1, strides[2] ?? 1]), ints('dilations', [dil[1] ?? 1, dil[2] ?? 1]), ints('kernel_shape', [kh, kw]), ...padAttr(n)];
      if (depthwise) attrs.push(int('group', cin));
      const y = c.emit('Conv', [c.transpose(x[0], NHWC_TO_NCHW, n.name), wName], [c.tmp(n.name)], attrs);
      c.emit('Transpose', [y], [out], [ints('perm', NCHW_TO_NHWC)], c.tmp(n.name));
      return 4;
    }
    case 'AvgPool':
    case 'MaxPool': {
      requireNhwc(n);
      const k = iList(n, 'ksize');
      const s = iList(n, 'strides');
      const attrs = [ints('kernel_shape', [k[1], k[2]]), ints('strides', [s[1], s[2]]), ...padAttr(n)];
      if (n.op === 'AvgPool') attrs.push(int('count_include_pad', 0));
      const y = c.emit(n.op === 'AvgPool' ? 'AveragePool' : 'MaxPool', [c.transpose(x[0], NHWC_TO_NCHW, n.name)], [c.tmp(n.name)], attrs);
      c.emit('Transpose', [y], [out], [ints('perm', NCHW_TO_NHWC)], c.tmp(n.name));
      return 4;
    }
    case 'Squeeze': {
      const axes = iList(n, 'squeeze_dims');
      if (axes.length === 0) throw new Error(`ONNX export: Squeeze "${n.name}" without squeeze_dims (rank-dependent) is not supported`);
      c.emit('Squeeze', [x[0], c.int64Init(n.name, axes)], [out]);
      return r(0) - axes.length;
    }
    case 'Pad': {
      const p = Array.from(c.constOf(ins[1], `Pad "${n.name}" paddings`).data);
      const rank = p.length / 2;
      const pads = [...Array(rank).keys()].map((d) => p[2 * d]).concat([...Array(rank).keys()].map((d) => p[2 * d + 1]));
      c.emit('Pad', [x[0], c.int64Init(n.name, pads)], [out]);
      return rank;
    }
    default:
      throw new Error(`ONNX export: TF op ${n.op} (node "${n.name}") has no ONNX translation`);
  }
}

function ensureScalar(c: Ctx, base: string, v: number): string {
  const name = `${base}/_onnx_clip_${v}`;
  if (!c.inits.some((t) => t.name === name)) c.inits.push({ name, dims: [], dataType: ONNX_TYPE.float32, rawData: bytesOf(Float32Array.of(v)) });
  return name;
}

