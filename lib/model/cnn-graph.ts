/**
 * A packaged CNN's cached GraphDef (lib/model/cnn/cnn-cache.ts) run as plain tfjs ops, so it can be
 * trained: every Const is a named tensor, any stretch of the graph between a cut node and the
 * feature node runs on its own, and fused ops are split into their differentiable parts (tfjs'
 * fused kernels have no Relu6 gradient). The frozen prefix's activations are cached once; the
 * suffix (the last blocks) trains on them with its weights as variables.
 */
import * as tf from '@tensorflow/tfjs';

interface AttrValue {
  s?: string;
  i?: string | number;
  b?: boolean;
  list?: { i?: (string | number)[]; s?: string[] };
}

interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

export interface CnnGraph {
  nodes: Map<string, NodeDef>;
  /** Const values by node name (float32 or int32). */
  consts: Map<string, tf.Tensor>;
}

/** Inputs without control dependencies ("^x") and output index suffixes (":0"). */
const inputsOf = (n: NodeDef): string[] => (n.input ?? []).filter((i) => !i.startsWith('^')).map((i) => i.replace(/:\d+$/, ''));
const str = (a: AttrValue | undefined): string => (a?.s ? Buffer.from(a.s, 'base64').toString() : '');
const ints = (a: AttrValue | undefined): number[] => (a?.list?.i ?? []).map(Number);
const strs = (a: AttrValue | undefined): string[] => (a?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString());

export function parseCnnGraph(json: tf.io.ModelJSON, weights: ArrayBuffer): CnnGraph {
  const topology = json.modelTopology as { node?: NodeDef[] };
  const nodes = new Map((topology.node ?? []).map((n) => [n.name, n]));
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const decoded = tf.io.decodeWeights(weights, specs);
  return { nodes, consts: new Map(Object.entries(decoded)) };
}

export function disposeCnnGraph(g: CnnGraph): void {
  for (const t of g.consts.values()) t.dispose();
}

/** Nodes needed for `output` given `from` (fed), in execution order; every other path must end at a Const. */
export function subgraph(g: CnnGraph, from: string, output: string): NodeDef[] {
  const order: NodeDef[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name) || name === from) return;
    seen.add(name);
    const n = g.nodes.get(name);
    if (!n) throw new Error(`graph: no node "${name}"`);
    if (n.op === 'Placeholder') throw new Error(`graph: "${output}" depends on input "${name}" other than through "${from}" (not a single-tensor cut)`);
    for (const i of inputsOf(n)) visit(i);
    order.push(n);
  };
  if (!g.nodes.has(from)) throw new Error(`graph: no cut node "${from}"`);
  visit(output);
  return order;
}

/** Float Consts of a subgraph (what training can change), by node name. */
export function subgraphWeights(g: CnnGraph, nodes: readonly NodeDef[]): string[] {
  return nodes.filter((n) => n.op === 'Const' && g.consts.get(n.name)?.dtype === 'float32' && g.consts.get(n.name)!.rank >= 1).map((n) => n.name);
}

const padding = (n: NodeDef): 'same' | 'valid' => {
  const p = str(n.attr?.padding);
  if (p !== 'SAME' && p !== 'VALID') throw new Error(`graph: ${n.op} "${n.name}" has padding ${p || '(none)'} (SAME or VALID supported)`);
  return p === 'SAME' ? 'same' : 'valid';
};

function activate(x: tf.Tensor, op: string, node: NodeDef): tf.Tensor {
  if (op === 'Relu') return tf.relu(x);
  if (op === 'Relu6') return tf.relu6(x);
  throw new Error(`graph: "${node.name}" fuses ${op} (Relu, Relu6 supported)`);
}

function fusedTail(x: tf.Tensor, n: NodeDef, args: tf.Tensor[]): tf.Tensor {
  let y = x;
  for (const [k, op] of strs(n.attr?.fused_ops).entries()) {
    if (op === 'BiasAdd') y = tf.add(y, args[k + 2]);
    else y = activate(y, op, n);
  }
  return y;
}

function evalNode(n: NodeDef, args: tf.Tensor[]): tf.Tensor {
  const [x] = args;
  const strides = ints(n.attr?.strides);
  const dil = ints(n.attr?.dilations);
  const s2 = [strides[1] ?? 1, strides[2] ?? 1] as [number, number];
  const d2 = [dil[1] ?? 1, dil[2] ?? 1] as [number, number];
  if (n.attr?.data_format && str(n.attr.data_format) !== 'NHWC') throw new Error(`graph: "${n.name}" is ${str(n.attr.data_format)} (NHWC supported)`);
  switch (n.op) {
    case 'Identity':
      return x;
    case 'Mul':
      return tf.mul(x, args[1]);
    case 'Sub':
      return tf.sub(x, args[1]);
    case 'Add':
    case 'AddV2':
    case 'BiasAdd':
      return tf.add(x, args[1]);
    case 'Maximum':
      return tf.maximum(x, args[1]);
    case 'Pow':
      return tf.pow(x, args[1]);
    case 'Relu':
    case 'Relu6':
      return activate(x, n.op, n);
    case 'Conv2D':
      return tf.conv2d(x as tf.Tensor4D, args[1] as tf.Tensor4D, s2, padding(n), 'NHWC', d2);
    case '_FusedConv2D':
      return fusedTail(tf.conv2d(x as tf.Tensor4D, args[1] as tf.Tensor4D, s2, padding(n), 'NHWC', d2), n, args);
    case 'DepthwiseConv2dNative':
      return tf.depthwiseConv2d(x as tf.Tensor4D, args[1] as tf.Tensor4D, s2, padding(n), 'NHWC', d2);
    case 'FusedDepthwiseConv2dNative':
      return fusedTail(tf.depthwiseConv2d(x as tf.Tensor4D, args[1] as tf.Tensor4D, s2, padding(n), 'NHWC', d2), n, args);
    case 'AvgPool':
    case 'MaxPool': {
      const k = ints(n.attr?.ksize);
      const pool = n.op === 'AvgPool' ? tf.avgPool : tf.maxPool;
      return pool(x as tf.Tensor4D, [k[1], k[2]], s2, padding(n));
    }
    case 'Squeeze':
      return tf.squeeze(x, ints(n.attr?.squeeze_dims));
    case 'Mean':
      return tf.mean(x, Array.from(args[1].dataSync()), n.attr?.keep_dims?.b ?? false);
    case 'ConcatV2':
      return tf.concat(args.slice(0, -1), args[args.length - 1].dataSync()[0]);
    default:
      throw new Error(`graph: op ${n.op} ("${n.name}") is not supported for training`);
  }
}

/** Runs `nodes` (a subgraph's order) with `input` fed at `from`; `params` override Consts by name. */
export function runSubgraph(g: CnnGraph, nodes: readonly NodeDef[], from: string, input: tf.Tensor, params: ReadonlyMap<string, tf.Tensor> = new Map()): tf.Tensor {
  return tf.tidy(() => {
    const values = new Map<string, tf.Tensor>([[from, input]]);
    for (const n of nodes) {
      if (n.op === 'Const') {
        const v = params.get(n.name) ?? g.consts.get(n.name);
        if (!v) throw new Error(`graph: Const "${n.name}" has no value in the weights`);
        values.set(n.name, v);
        continue;
      }
      values.set(n.name, evalNode(n, inputsOf(n).map((i) => values.get(i)!)));
    }
    return values.get(nodes[nodes.length - 1].name)!;
  });
}

/** The cache's weights.bin with the named tensors replaced (a tuned backbone for export and loading). */
export function replaceGraphWeights(json: tf.io.ModelJSON, weights: ArrayBuffer, tuned: ReadonlyMap<string, { values: Float32Array }>): ArrayBuffer {
  const out = weights.slice(0);
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  let offset = 0;
  const left = new Set(tuned.keys());
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (s.quantization || (s.dtype !== 'float32' && s.dtype !== 'int32')) throw new Error(`graph weights: "${s.name}" is ${s.dtype}${s.quantization ? ' quantised' : ''} (the cache holds float32/int32 only)`);
    const t = tuned.get(s.name);
    if (t) {
      if (t.values.length !== n) throw new Error(`graph weights: tuned "${s.name}" has ${t.values.length} values, the graph holds ${n} [${s.shape}]`);
      new Float32Array(out, offset, n).set(t.values);
      left.delete(s.name);
    }
    offset += n * 4;
  }
  if (left.size > 0) throw new Error(`graph weights: tuned tensors not in the graph: ${[...left].slice(0, 3).join(', ')}${left.size > 3 ? ` (+${left.size - 3})` : ''}`);
  return out;
}
