/**
 * Compiles a Keras functional model (Conv2D, BatchNormalization, Activation, pooling, Concatenate)
 * cut at spec.featureNode into a GraphDef of standard TF ops with global average pooling on top,
 * built with the export's GraphBuilder. Inference BatchNormalization is folded into the preceding
 * convolution (Conv2D + BiasAdd), so the graph runs in tfjs, TF 2.6 and ONNX alike.
 */
import * as tf from '@tensorflow/tfjs';
import { GraphBuilder, type HostTensor } from '../../export/graph';
import { hostTensor } from '../../export/tfjs-json';
import { fragmentJson, type GraphCut } from './graph-cut';
import type { PackagedCnnSpec } from './registry';

/** Converted layers models end in this global-average-pooling node (a Mean over H, W); its output is the feature. */
export const POOL_NODE = 'global_average_pooling/Mean';

interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown> & { padding?: string; strides?: [number, number]; pool_size?: [number, number]; activation?: string; axis?: number; epsilon?: number; use_bias?: boolean };
  inbound_nodes: Array<Array<[string, number, number, unknown]>>;
}

/** A tf.Tensor's values on the host, the tensor disposed. */
function taken(t: tf.Tensor, name: string): HostTensor {
  try {
    return hostTensor(t, name);
  } finally {
    t.dispose();
  }
}

/** The Keras model in `art` -> the GraphDef and Const values the cache stores. */
export async function kerasToGraph(spec: PackagedCnnSpec, art: tf.io.ModelArtifacts): Promise<GraphCut> {
  const model = await tf.loadLayersModel(tf.io.fromMemory(art));
  try {
    const topo = art.modelTopology as { model_config: { config: { layers: KerasLayer[] } } };
    const layers = topo.model_config.config.layers;
    const byName = new Map(layers.map((l) => [l.name, l]));
    const inputsOf = (l: KerasLayer) => (l.inbound_nodes[0] ?? []).map((n) => n[0]);
    // Ancestors of the feature layer, kept in the file's (topological) order.
    const keep = new Set<string>();
    const stack = [spec.featureNode];
    while (stack.length) {
      const name = stack.pop()!;
      if (keep.has(name)) continue;
      if (!byName.has(name)) throw new Error(`${spec.name}: model has no layer "${name}"`);
      keep.add(name);
      stack.push(...inputsOf(byName.get(name)!));
    }
    const consumers = new Map<string, number>();
    for (const l of layers) if (keep.has(l.name)) for (const i of inputsOf(l)) consumers.set(i, (consumers.get(i) ?? 0) + 1);

    const g = new GraphBuilder();
    const out = new Map<string, string>(); // layer name -> its output node
    const layerWeights = (name: string) => new Map(model.getLayer(name).weights.map((w) => [w.originalName.split('/').pop()!, w.read()]));
    let inputNode = '';
    for (const l of layers) {
      if (!keep.has(l.name)) continue;
      const c = l.config;
      const x = inputsOf(l).map((i) => out.get(i)!);
      const padding = (c.padding ?? 'valid').toUpperCase();
      if (padding !== 'VALID' && padding !== 'SAME') throw new Error(`${spec.name}: ${l.name} has padding ${c.padding} (valid or same supported)`);
      switch (l.class_name) {
        case 'InputLayer': {
          const size = spec.preprocess.imageSize;
          inputNode = g.placeholder('input', 'float32', [-1, size, size, 3]);
          out.set(l.name, inputNode);
          break;
        }
        case 'Conv2D': {
          if (c.activation !== 'linear') throw new Error(`${spec.name}: ${l.name} has a fused activation ${c.activation}`);
          // Fold the inference BatchNormalization that alone consumes this convolution.
          const bn = layers.find((b) => keep.has(b.name) && b.class_name === 'BatchNormalization' && inputsOf(b)[0] === l.name);
          const fold = bn !== undefined && consumers.get(l.name) === 1;
          const [kernel, bias] = tf.tidy(() => {
            const w = layerWeights(l.name);
            const k = w.get('kernel')!;
            const b = w.get('bias') ?? tf.zeros([k.shape[3] as number]);
            if (!fold || !bn) return [k.clone(), b.clone()];
            const v = layerWeights(bn.name);
            const variance = v.get('moving_variance')!;
            const gamma = v.get('gamma') ?? tf.onesLike(variance);
            const scale = tf.div(gamma, tf.sqrt(tf.add(variance, bn.config.epsilon ?? 1e-3)));
            return [tf.mul(k, scale), tf.add(tf.mul(tf.sub(b, v.get('moving_mean')!), scale), v.get('beta') ?? 0)];
          });
          const y = g.scope(l.name, () => {
            const conv = g.conv2d(x[0], g.const(taken(kernel, `${l.name}/kernel`), 'kernel'), c.strides ?? [1, 1], padding);
            return g.biasAdd(conv, g.const(taken(bias, `${l.name}/bias`), 'bias'));
          });
          out.set(l.name, y);
          if (fold) out.set(bn.name, y);
          break;
        }
        case 'BatchNormalization':
          if (!out.has(l.name)) throw new Error(`${spec.name}: ${l.name} does not follow a convolution it can be folded into`);
          break;
        case 'Activation':
          if (c.activation !== 'relu') throw new Error(`${spec.name}: ${l.name}: activation ${c.activation} is not supported`);
          out.set(l.name, g.scope(l.name, () => g.relu(x[0])));
          break;
        case 'MaxPooling2D':
        case 'AveragePooling2D': {
          const op = l.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AvgPool';
          out.set(l.name, g.scope(l.name, () => g.pool(op, x[0], c.pool_size!, c.strides ?? c.pool_size!, padding)));
          break;
        }
        case 'Concatenate':
          if (c.axis !== 3 && c.axis !== -1) throw new Error(`${spec.name}: ${l.name} concatenates on axis ${c.axis}, only channels are supported`);
          out.set(l.name, g.scope(l.name, () => g.concat(x, 3)));
          break;
        default:
          throw new Error(`${spec.name}: layer ${l.name} (${l.class_name}) cannot be converted to a graph`);
      }
    }
    g.mean(out.get(spec.featureNode)!, [1, 2], false, POOL_NODE);
    return { ...fragmentJson(g.fragment()), versions: { producer: 175 }, inputNode, outputNode: POOL_NODE };
  } finally {
    model.dispose();
  }
}
