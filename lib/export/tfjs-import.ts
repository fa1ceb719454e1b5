/**
 * Imports a tfjs graph model (model.json: a GraphDef in JSON form + weight shards) into a
 * GraphBuilder, cut at a named node. The tfjs converter fuses ops into grappler-internal kernels
 * (_FusedConv2D, FusedDepthwiseConv2dNative, _FusedMatMul with `fused_ops`); they are unfused back
 * into standard TF ops (Conv2D + BiasAdd + Relu6, ...) so that TF 2.6 and ONNX both run the result.
 */
import * as tf from '@tensorflow/tfjs';
import type { AttrValue, GraphNode } from './graph';
import { numel } from '../core/layout';
import { GraphBuilder, nodeOf, outputIndex, prune } from './graph';
import { dtypeFromTf } from './graphdef';
import { hostTensor } from './tfjs-json';

interface JsonAttr {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  shape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
  list?: { s?: string[]; i?: (string | number)[]; type?: string[] };
  tensor?: unknown;
}
interface JsonNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, JsonAttr>;
}

const unb64 = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

function attrFromJson(a: JsonAttr, where: string): AttrValue | null {
  if (a.type !== undefined) return { type: dtypeFromTf(a.type, where) };
  if (a.i !== undefined) return { i: Number(a.i) };
  if (a.f !== undefined) return { f: a.f };
  if (a.b !== undefined) return { b: a.b };
  if (a.s !== undefined) return { s: unb64(a.s) };
  if (a.shape !== undefined) return { shape: a.shape.unknownRank ? null : (a.shape.dim ?? []).map((d) => Number(d.size ?? 0)) };
  if (a.tensor !== undefined) return null; // Const values come from the weights manifest
  const l = a.list ?? {};
  if (l.type?.length) return { types: l.type.map((t) => dtypeFromTf(t, where)) };
  if (l.s?.length) return { strings: l.s.map(unb64) };
  return { ints: (l.i ?? []).map(Number) };
}

/** Attributes the plain op keeps from its fused form (TF 2.6's op definitions). */
const PLAIN_ATTRS: Record<string, string[]> = {
  Conv2D: ['T', 'strides', 'padding', 'data_format', 'dilations', 'use_cudnn_on_gpu', 'explicit_paddings'],
  DepthwiseConv2dNative: ['T', 'strides', 'padding', 'data_format', 'dilations', 'explicit_paddings'],
  MatMul: ['T', 'transpose_a', 'transpose_b'],
};
const FUSED: Record<string, string> = { _FusedConv2D: 'Conv2D', FusedDepthwiseConv2dNative: 'DepthwiseConv2dNative', _FusedMatMul: 'MatMul' };
const ACTIVATIONS: Record<string, string> = { Relu: 'Relu', Relu6: 'Relu6', Elu: 'Elu', Tanh: 'Tanh', Sigmoid: 'Sigmoid' };

export interface TfjsGraphModelJson {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

export interface ImportOptions {
  /** Our tensor that replaces the model's input Placeholder. */
  input: string;
  /** Node whose output is the feature (the cut point). */
  outputNode: string;
  /** Consts with at least this many values become variables (weights); smaller ones stay inline. */
  minWeightSize?: number;
}

/** Adds the model's nodes (inside the current scope) and returns the output tensor's name. */
export function importTfjsGraphModel(g: GraphBuilder, model: TfjsGraphModelJson, weightData: ArrayBuffer, opts: ImportOptions): string {
  const topo = model.modelTopology as { node?: JsonNode[] };
  const all = topo.node ?? [];
  const raw = { nodes: all.map((n) => ({ name: n.name, op: n.op, inputs: n.input ?? [], attrs: {} })), weights: new Set<string>(), inputs: {}, outputs: {} };
  const order: GraphNode[] = prune(raw, [opts.outputNode]).nodes;
  const byName = new Map(all.map((n) => [n.name, n]));
  const placeholders = order.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) throw new Error(`tfjs import: expected one input Placeholder above "${opts.outputNode}", found ${placeholders.length}`);
  const specs = model.weightsManifest.flatMap((m) => m.weights);
  const tensors = tf.io.decodeWeights(weightData, specs);
  const minSize = opts.minWeightSize ?? 16;
  const renamed = new Map<string, string>([[placeholders[0].name, opts.input]]);
  const ref = (input: string): string => {
    const mapped = renamed.get(nodeOf(input));
    if (mapped === undefined) throw new Error(`tfjs import: input "${input}" is not defined before use`);
    const k = outputIndex(input);
    return k === 0 ? mapped : `${nodeOf(mapped)}:${k}`;
  };
  try {
    for (const { name, op } of order) {
      if (op === 'Placeholder') continue;
      const def = byName.get(name)!;
      const attrs: Record<string, AttrValue> = {};
      for (const [k, v] of Object.entries(def.attr ?? {})) {
        const a = attrFromJson(v, `node "${name}" attr ${k}`);
        if (a) attrs[k] = a;
      }
      const inputs = (def.input ?? []).filter((i) => !i.startsWith('^')).map(ref);
      if (op === 'Const') {
        const t = tensors[name];
        if (!t) throw new Error(`tfjs import: Const "${name}" has no entry in the weights manifest`);
        const value = hostTensor(t, name);
        renamed.set(name, numel(value.shape) >= minSize ? g.weight(name, value) : g.const(value, name));
        continue;
      }
      if (op in FUSED) {
        const plain = FUSED[op];
        const fused = 'strings' in (attrs.fused_ops ?? {}) ? (attrs.fused_ops as { strings: string[] }).strings : [];
        const keep = Object.fromEntries(Object.entries(attrs).filter(([k]) => PLAIN_ATTRS[plain].includes(k) && !(k === 'explicit_paddings' && 'ints' in attrs[k] && (attrs[k] as { ints: number[] }).ints.length === 0)));
        let y = g.op(plain, inputs.slice(0, 2), keep, `${name}/${plain}`);
        for (const f of fused) {
          if (f === 'BiasAdd') y = g.biasAdd(y, inputs[2], `${name}/BiasAdd`);
          else if (f in ACTIVATIONS) y = g.op(ACTIVATIONS[f], [y], { T: { type: 'float32' } }, `${name}/${f}`);
          else throw new Error(`tfjs import: node "${name}" (${op}) fuses ${f}, which cannot be unfused (supported: BiasAdd, ${Object.keys(ACTIVATIONS).join(', ')})`);
        }
        renamed.set(name, y);
        continue;
      }
      if (op === 'Conv2D' || op === 'DepthwiseConv2dNative') {
        const e = attrs.explicit_paddings;
        if (e && 'ints' in e && e.ints.length === 0) delete attrs.explicit_paddings;
      }
      renamed.set(name, g.op(op, inputs, attrs, name));
    }
  } finally {
    tf.dispose(tensors);
  }
  return renamed.get(opts.outputNode)!;
}
