/**
 * A packaged CNN as the training loop's Backbone, fine-tuned from a cut: the frozen prefix (input
 * -> the node feeding the last k blocks) runs once per image in the fused graph model and its
 * activations are cached like features; the last k blocks run on them through lib/model/cnn-graph.ts
 * with their weights as variables named "backbone.<Const node name>" (what checkpoints, export and
 * loading carry).
 */
import * as tf from '@tensorflow/tfjs';
import type { Backbone as ModelBackbone } from '../model/backbones';
import { parseCnnGraph, runSubgraph, subgraph, subgraphWeights, type CnnGraph } from '../model/cnn-graph';
import { PACKAGED_CNNS } from '../model/cnn/registry';
import type { Backbone } from './model';

export interface CnnCut {
  backbone: string;
  blocks: number;
  /** Node whose output feeds the trained blocks (the cached activation). */
  node: string;
  /** Activation shape per image [h, w, c]. */
  shape: [number, number, number];
  graph: CnnGraph;
  nodes: ReturnType<typeof subgraph>;
  /** Const names the blocks train. */
  weights: string[];
}

/** The cut feeding the last `blocks` blocks of a packaged CNN. */
export function cnnCut(b: ModelBackbone, blocks: number): CnnCut {
  const spec = PACKAGED_CNNS[b.name];
  if (!spec || !b.cnn) throw new Error(`backbone "${b.name}" is not a packaged CNN`);
  const cuts = spec.blockInputs;
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > cuts.length) throw new Error(`backboneBlocks ${blocks}: ${b.name} can fine-tune its last 1-${cuts.length} blocks`);
  const node = cuts[blocks - 1];
  const graph = parseCnnGraph(b.cnn.cache.json, b.cnn.weightData);
  const nodes = subgraph(graph, node, b.cnn.cache.meta.outputNode);
  const probe = tf.tidy(() => b.cnn!.model.execute(tf.zeros([1, b.preprocess.imageSize, b.preprocess.imageSize, 3]), node) as tf.Tensor);
  const [, h, w, c] = probe.shape;
  probe.dispose();
  return { backbone: b.name, blocks, node, shape: [h, w, c], graph, nodes, weights: subgraphWeights(graph, nodes) };
}

/** The frozen prefix as a feature backbone (activations flattened), for the feature cache. */
export function prefixBackbone(b: ModelBackbone, cut: CnnCut): ModelBackbone {
  const dim = cut.shape[0] * cut.shape[1] * cut.shape[2];
  return {
    ...b,
    name: `${b.name}.last${cut.blocks}`,
    featureDim: dim,
    features: (x) => tf.tidy(() => (b.cnn!.model.execute(x, cut.node) as tf.Tensor).reshape([x.shape[0], dim]) as tf.Tensor2D),
    dispose: () => undefined,
  };
}

/** The last blocks, trainable: flattened cut activations -> features. The caller disposes the variables (model.dispose()). */
export function suffixBackbone(cut: CnnCut): Backbone {
  const vars = new Map(cut.weights.map((n) => [n, tf.variable(cut.graph.consts.get(n)!.clone(), true)]));
  const probe = tf.tidy(() => runSubgraph(cut.graph, cut.nodes, cut.node, tf.zeros([1, ...cut.shape]), vars));
  const outputDim = probe.shape[probe.shape.length - 1];
  probe.dispose();
  return {
    params: [...vars].map(([name, variable]) => ({ name: `backbone.${name}`, variable })),
    outputDim,
    forward: (x) => runSubgraph(cut.graph, cut.nodes, cut.node, x.reshape([x.shape[0], ...cut.shape]), vars) as tf.Tensor2D,
  };
}

