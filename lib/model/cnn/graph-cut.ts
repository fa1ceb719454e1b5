/**
 * A packaged graph model cut at its feature node: only the node's ancestors and their
 * (dequantised, float32) weights remain, with GeM pooling appended when the spec asks for it.
 * GraphCut is also what the Keras compiler produces: the GraphDef the cache stores.
 */
import * as tf from '@tensorflow/tfjs';
import { GraphBuilder, constValue, type GraphNode, type HostTensor } from '../../export/graph';
import { hostTensor, nodeJson } from '../../export/tfjs-json';
import type { PackagedCnnSpec } from './registry';

/** A GraphDef node in tfjs' JSON form, as a packaged model.json holds it. */
export interface GraphDefNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
  device?: string;
}

/** A GraphDef (tfjs JSON form) with its Const values: what the cache stores. */
export interface GraphCut {
  nodes: GraphDefNode[];
  versions?: unknown;
  /** Const node name -> value (float32 or int32), in manifest order. */
  consts: Map<string, HostTensor>;
  inputNode: string;
  outputNode: string;
}

const GEM_SCOPE = 'guie_gem';
/** The output node of the GeM pooling a spec's `gem` appends to the cut graph. */
export const GEM_NODE = `${GEM_SCOPE}/pooled`;

/** GraphBuilder nodes as GraphDef JSON, their Const values in the order they were added. */
export function fragmentJson(nodes: GraphNode[]): { nodes: GraphDefNode[]; consts: Map<string, HostTensor> } {
  return { nodes: nodes.map(nodeJson), consts: new Map(nodes.filter((n) => n.op === 'Const').map((n) => [n.name, constValue(n)])) };
}

/** Node names `output` depends on (inputs are "name", "name:1" or "^control"). */
function ancestors(nodes: GraphDefNode[], output: string): Set<string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const keep = new Set<string>();
  const stack = [output];
  while (stack.length) {
    const name = stack.pop()!;
    if (keep.has(name)) continue;
    const node = byName.get(name);
    if (!node) throw new Error(`graph has no node "${name}"`);
    keep.add(name);
    for (const i of node.input ?? []) stack.push(i.replace(/^\^/, '').replace(/:\d+$/, ''));
  }
  return keep;
}

/** GeM over H and W as plain TF ops (Maximum, Pow, Mean, Pow): tfjs, the fine-tuning graph runner, SavedModel and ONNX all read them. */
function gemFragment(gem: { mapNode: string; p: number }): GraphNode[] {
  const g = new GraphBuilder();
  g.scope(GEM_SCOPE, () => {
    const eps = g.scalar(1e-6, 'eps');
    const p = g.scalar(gem.p, 'p');
    const invP = g.scalar(1 / gem.p, 'inv_p');
    const powered = g.pow(g.maximum(gem.mapNode, eps, 'clamped'), p, 'powered');
    g.pow(g.mean(powered, [1, 2], false, 'mean'), invP, 'pooled');
  });
  return g.fragment();
}

/** Graph model cut at spec.featureNode (or at spec.gem's map, GeM-pooled): only its ancestors and their (dequantised) weights remain. */
export function truncateGraph(spec: PackagedCnnSpec, art: tf.io.ModelArtifacts): GraphCut {
  const graph = art.modelTopology as { node: GraphDefNode[]; versions?: unknown };
  const keep = ancestors(graph.node, spec.gem?.mapNode ?? spec.featureNode);
  const nodes = graph.node.filter((n) => keep.has(n.name));
  const inputs = nodes.filter((n) => n.op === 'Placeholder');
  if (inputs.length !== 1) throw new Error(`${spec.name}: expected one input placeholder, found ${inputs.length}`);
  const tensors = tf.io.decodeWeights(art.weightData!, art.weightSpecs!);
  const consts = new Map<string, HostTensor>();
  try {
    for (const [name, t] of Object.entries(tensors)) if (keep.has(name)) consts.set(name, hostTensor(t, name));
  } finally {
    tf.dispose(Object.values(tensors));
  }
  if (spec.gem) {
    const gem = fragmentJson(gemFragment(spec.gem));
    nodes.push(...gem.nodes);
    for (const [name, t] of gem.consts) consts.set(name, t);
  }
  return { nodes, versions: graph.versions, consts, inputNode: inputs[0].name, outputNode: spec.gem ? GEM_NODE : spec.featureNode };
}
