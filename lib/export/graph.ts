/**
 * A small graph of TensorFlow ops: the single description of the inference model. The SavedModel
 * writer, the ONNX exporter and the tfjs runner all read this one structure, so the three can
 * never disagree about what the model computes. Nodes are GraphDef nodes (op names and attrs as
 * TensorFlow defines them); weights are Const nodes marked as variables.
 */
import { numel } from '../core/layout';
import type { Preprocess } from '../core/preprocess';

/** float64 only for computed tensors (the in-graph resampling), never for Consts or weights. */
export type DType = 'float32' | 'float64' | 'int32' | 'uint8' | 'int64' | 'bool' | 'string';

export type TensorData = Float32Array | Int32Array | Uint8Array;

/** A tensor held on the host (weights, shapes, axes). */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

export type AttrValue =
  | { type: DType }
  | { i: number }
  | { f: number }
  | { b: boolean }
  | { s: string }
  | { shape: number[] | null }
  | { ints: number[] }
  | { types: DType[] }
  | { strings: string[] }
  | { tensor: HostTensor };

export interface GraphNode {
  name: string;
  op: string;
  /** "node" or "node:k" for output k; "^node" for a control dependency. */
  inputs: string[];
  attrs: Record<string, AttrValue>;
}

export interface TensorSpec {
  /** Tensor name as "node:k". */
  name: string;
  dtype: DType;
  /** -1 = unknown size; null = unknown rank. */
  shape: number[] | null;
}

export interface Graph {
  nodes: GraphNode[];
  /** Const nodes that hold trained weights: variables in a SavedModel, initializers in ONNX. */
  weights: Set<string>;
  inputs: Record<string, TensorSpec>;
  outputs: Record<string, TensorSpec>;
  /** What the model is, recorded into every export (ONNX metadata_props, export.json) so loaders never guess. */
  about?: GraphAbout;
}

/** The backbone and the preprocessing the in-graph resize implements (the training side's geometry). */
export interface GraphAbout {
  backbone: string;
  preprocess: Preprocess;
}

export function f32(data: ArrayLike<number>, shape: number[]): HostTensor {
  return checked({ dtype: 'float32', shape, data: Float32Array.from(data) });
}

export function i32(data: ArrayLike<number>, shape: number[] = [data.length]): HostTensor {
  return checked({ dtype: 'int32', shape, data: Int32Array.from(data) });
}

function checked(t: HostTensor): HostTensor {
  if (t.data.length !== numel(t.shape)) throw new Error(`tensor of shape [${t.shape}] needs ${numel(t.shape)} values, got ${t.data.length}`);
  return t;
}

/** "node:0" -> "node"; "^node" -> "node". */
export function nodeOf(tensor: string): string {
  const s = tensor.startsWith('^') ? tensor.slice(1) : tensor;
  const i = s.lastIndexOf(':');
  return i >= 0 && /^\d+$/.test(s.slice(i + 1)) ? s.slice(0, i) : s;
}

export function outputIndex(tensor: string): number {
  const i = tensor.lastIndexOf(':');
  return i >= 0 && /^\d+$/.test(tensor.slice(i + 1)) ? Number(tensor.slice(i + 1)) : 0;
}

/** Keeps only the nodes the given outputs depend on, in topological order. */
export function prune(graph: Graph, outputs: string[] = Object.values(graph.outputs).map((o) => o.name)): Graph {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const order: GraphNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new Error(`graph has a cycle through node "${name}"`);
    const node = byName.get(name);
    if (!node) throw new Error(`graph refers to a missing node "${name}"`);
    state.set(name, 'visiting');
    for (const inp of node.inputs) visit(nodeOf(inp));
    state.set(name, 'done');
    order.push(node);
  };
  for (const o of outputs) visit(nodeOf(o));
  const kept = new Set(order.map((n) => n.name));
  return { ...graph, nodes: order, weights: new Set([...graph.weights].filter((w) => kept.has(w))) };
}

export function constValue(node: GraphNode): HostTensor {
  const v = node.attrs.value;
  if (node.op !== 'Const' || !v || !('tensor' in v)) throw new Error(`node "${node.name}" (${node.op}) is not a Const with a value`);
  return v.tensor;
}

/**
 * Builds a Graph with TensorFlow op names. Methods return the output tensor name; scopes give
 * names like "transformer/resblocks/0/attn/MatMul" as TensorFlow's name scopes do.
 */
export class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private readonly used = new Set<string>();
  private readonly weights = new Set<string>();
  private readonly prefix: string[] = [];
  private weightPrefix = '';

  scope<T>(name: string, fn: () => T): T {
    this.prefix.push(name);
    try {
      return fn();
    } finally {
      this.prefix.pop();
    }
  }

  private unique(base: string): string {
    const full = [...this.prefix, base].join('/');
    let name = full;
    for (let k = 1; this.used.has(name); k++) name = `${full}_${k}`;
    this.used.add(name);
    return name;
  }

  /** Adds a node; `name` defaults to the op name (made unique within the scope). */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name: string = op): string {
    const full = this.unique(name);
    this.nodes.push({ name: full, op, inputs, attrs });
    return full;
  }

  placeholder(name: string, dtype: DType, shape: number[] | null): string {
    return this.op('Placeholder', [], { dtype: { type: dtype }, shape: { shape } }, name);
  }

  const(t: HostTensor, name = 'Const'): string {
    return this.op('Const', [], { dtype: { type: t.dtype }, value: { tensor: t } }, name);
  }

  /** Weights created inside get `prefix` before their own (scope-free) name, e.g. "visual.". */
  withWeightPrefix<T>(prefix: string, fn: () => T): T {
    const saved = this.weightPrefix;
    this.weightPrefix = saved + prefix;
    try {
      return fn();
    } finally {
      this.weightPrefix = saved;
    }
  }

  /**
   * A trained tensor: a variable in the SavedModel. Its node name (= checkpoint key) ignores name
   * scopes, so checkpoints read like state dicts ("visual.conv1.weight").
   */
  weight(name: string, t: HostTensor): string {
    const full = this.weightPrefix + name;
    if (this.used.has(full)) throw new Error(`weight "${full}" defined twice`);
    this.used.add(full);
    this.nodes.push({ name: full, op: 'Const', inputs: [], attrs: { dtype: { type: t.dtype }, value: { tensor: t } } });
    this.weights.add(full);
    return full;
  }

  build(inputs: Record<string, TensorSpec>, outputs: Record<string, TensorSpec>): Graph {
    return prune({ nodes: [...this.nodes], weights: new Set(this.weights), inputs, outputs });
  }

  /** The nodes in the order they were added, unpruned: a fragment for a GraphDef held elsewhere (its inputs may name nodes outside this builder). */
  fragment(): GraphNode[] {
    return [...this.nodes];
  }

  // --- ops, named and attributed as in TensorFlow's op registry (all exist in TF 2.6) ---
  private binary(op: string, a: string, b: string, name?: string): string {
    return this.op(op, [a, b], { T: { type: 'float32' } }, name);
  }
  private unary(op: string, x: string, name?: string): string {
    return this.op(op, [x], { T: { type: 'float32' } }, name);
  }
  add(a: string, b: string, name?: string): string { return this.binary('AddV2', a, b, name ?? 'add'); }
  sub(a: string, b: string, name?: string): string { return this.binary('Sub', a, b, name); }
  mul(a: string, b: string, name?: string): string { return this.binary('Mul', a, b, name); }
  div(a: string, b: string, name?: string): string { return this.binary('RealDiv', a, b, name); }
  maximum(a: string, b: string, name?: string): string { return this.binary('Maximum', a, b, name); }
  pow(a: string, b: string, name?: string): string { return this.binary('Pow', a, b, name); }
  square(x: string, name?: string): string { return this.unary('Square', x, name); }
  rsqrt(x: string, name?: string): string { return this.unary('Rsqrt', x, name); }
  erf(x: string, name?: string): string { return this.unary('Erf', x, name); }
  sigmoid(x: string, name?: string): string { return this.unary('Sigmoid', x, name); }
  relu(x: string, name?: string): string { return this.unary('Relu', x, name); }
  relu6(x: string, name?: string): string { return this.unary('Relu6', x, name); }
  softmax(x: string, name?: string): string { return this.unary('Softmax', x, name); }
  identity(x: string, name?: string): string { return this.unary('Identity', x, name); }
  scalar(v: number, name = 'Const'): string { return this.const(f32([v], []), name); }

  /** An op whose inputs and output share one dtype attr T (AddV2, Floor, Less, ...), for dtypes other than the helpers' float32. */
  typed(op: string, inputs: string[], dtype: DType, name?: string): string {
    return this.op(op, inputs, { T: { type: dtype } }, name);
  }
  cast(x: string, from: DType, to: DType, name = 'Cast'): string {
    return this.op('Cast', [x], { SrcT: { type: from }, DstT: { type: to }, Truncate: { b: false } }, name);
  }
  /** int32 [start, start + 1, ..., limit - 1] from int32 scalars. */
  range(start: string, limit: string, name = 'range'): string {
    return this.op('Range', [start, limit, this.const(i32([1], []), `${name}/delta`)], { Tidx: { type: 'int32' } }, name);
  }
  reshape(x: string, shape: number[], name = 'Reshape', dtype: DType = 'float32'): string {
    return this.op('Reshape', [x, this.const(i32(shape), `${name}/shape`)], { T: { type: dtype }, Tshape: { type: 'int32' } }, name);
  }
  transpose(x: string, perm: number[], name = 'transpose'): string {
    return this.op('Transpose', [x, this.const(i32(perm), `${name}/perm`)], { T: { type: 'float32' }, Tperm: { type: 'int32' } }, name);
  }
  /** TensorFlow Slice: size -1 runs to the end of that axis. */
  slice(x: string, begin: number[], size: number[], name = 'Slice'): string {
    return this.op('Slice', [x, this.const(i32(begin), `${name}/begin`), this.const(i32(size), `${name}/size`)], { T: { type: 'float32' }, Index: { type: 'int32' } }, name);
  }
  concat(xs: string[], axis: number, name = 'concat', dtype: DType = 'float32'): string {
    return this.op('ConcatV2', [...xs, this.const(i32([axis], []), `${name}/axis`)], { N: { i: xs.length }, T: { type: dtype }, Tidx: { type: 'int32' } }, name);
  }
  private reduce(op: string, x: string, axes: number[], keepDims: boolean, name: string): string {
    return this.op(op, [x, this.const(i32(axes), `${name}/reduction_indices`)], { T: { type: 'float32' }, Tidx: { type: 'int32' }, keep_dims: { b: keepDims } }, name);
  }
  mean(x: string, axes: number[], keepDims: boolean, name = 'Mean'): string { return this.reduce('Mean', x, axes, keepDims, name); }
  sum(x: string, axes: number[], keepDims: boolean, name = 'Sum'): string { return this.reduce('Sum', x, axes, keepDims, name); }
  matMul(a: string, b: string, opts: { transposeA?: boolean; transposeB?: boolean } = {}, name = 'MatMul'): string {
    return this.op('MatMul', [a, b], { T: { type: 'float32' }, transpose_a: { b: !!opts.transposeA }, transpose_b: { b: !!opts.transposeB } }, name);
  }
  /** Batched matmul with broadcasting batch dims (a [m,k] against b [..., k, n] gives [..., m, n]). */
  batchMatMul(a: string, b: string, opts: { adjX?: boolean; adjY?: boolean; dtype?: DType } = {}, name = 'BatchMatMulV2'): string {
    return this.op('BatchMatMulV2', [a, b], { T: { type: opts.dtype ?? 'float32' }, adj_x: { b: !!opts.adjX }, adj_y: { b: !!opts.adjY } }, name);
  }
  biasAdd(x: string, bias: string, name = 'BiasAdd'): string {
    return this.op('BiasAdd', [x, bias], { T: { type: 'float32' }, data_format: { s: 'NHWC' } }, name);
  }
  /** MaxPool or AvgPool over NHWC windows. */
  pool(op: 'MaxPool' | 'AvgPool', x: string, ksize: [number, number], strides: [number, number], padding: 'VALID' | 'SAME', name: string = op): string {
    return this.op(op, [x], { T: { type: 'float32' }, ksize: { ints: [1, ksize[0], ksize[1], 1] }, strides: { ints: [1, strides[0], strides[1], 1] }, padding: { s: padding }, data_format: { s: 'NHWC' } }, name);
  }
  conv2d(x: string, filterHWIO: string, strides: [number, number], padding: 'VALID' | 'SAME', name = 'Conv2D'): string {
    return this.op('Conv2D', [x, filterHWIO], {
      T: { type: 'float32' },
      strides: { ints: [1, strides[0], strides[1], 1] },
      padding: { s: padding },
      data_format: { s: 'NHWC' },
      dilations: { ints: [1, 1, 1, 1] },
      use_cudnn_on_gpu: { b: true },
      explicit_paddings: { ints: [] },
    }, name);
  }
}
