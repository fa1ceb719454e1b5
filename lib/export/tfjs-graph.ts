/**
 * Runs a Graph with TensorFlow.js's GraphDef executor (tf.loadGraphModel on in-memory artifacts):
 * the same executor that runs converted TF models, so the export is checked by a real TF-op
 * interpreter, not by our own re-implementation of each op.
 */
import * as tf from '@tensorflow/tfjs';
import type { Embedder } from '../embedder';
import type { RgbImage } from '../core/rgb-image';
import { resizeForModel } from '../data/image';
import type { Preprocess } from '../core/preprocess';
import type { Graph, HostTensor } from './graph';
import { constValue, nodeOf, prune } from './graph';
import { nodeJson } from './tfjs-json';

function tfjsDtype(t: HostTensor, node: string): 'float32' | 'int32' {
  if (t.dtype === 'float32') return 'float32';
  if (t.dtype === 'int32' || t.dtype === 'uint8') return 'int32';
  throw new Error(`tfjs runner: Const "${node}" has dtype ${t.dtype}`);
}

/**
 * TF's bicubic interpolation weights (resize_bicubic_op.cc, half-pixel centres): Keys kernel with
 * a = -0.5; taps outside the image get weight 0 and the rest are renormalised to sum to 1 (as
 * ONNX Resize with exclude_outside=1). TF reads the coefficients from a 1024-entry table; the exact
 * kernel used here agrees with it to ~1e-7 on embeddings (test/oracle/export.test.ts).
 */
export function bicubicWeights(inSize: number, outSize: number): Float32Array {
  const a = -0.5;
  const k = (t: number): number => {
    const x = Math.abs(t);
    return x <= 1 ? ((a + 2) * x - (a + 3)) * x * x + 1 : x < 2 ? ((a * x - 5 * a) * x + 8 * a) * x - 4 * a : 0;
  };
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = (o + 0.5) * scale - 0.5;
    const base = Math.floor(src);
    const frac = src - base;
    let sum = 0;
    for (let d = -1; d <= 2; d++) if (base + d >= 0 && base + d < inSize) sum += k(d - frac);
    for (let d = -1; d <= 2; d++) if (base + d >= 0 && base + d < inSize) m[o * inSize + base + d] = k(d - frac) / sum;
  }
  return m;
}

/** ResizeBicubic is not in tfjs's op set: run it as two matmuls with TF's weights. */
function resizeBicubic(x: tf.Tensor4D, outH: number, outW: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const wy = tf.tensor2d(bicubicWeights(h, outH), [outH, h]);
    const wx = tf.tensor2d(bicubicWeights(w, outW), [outW, w]);
    const rowsFirst = tf.reshape(tf.matMul(wy, tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, b * w * c])), [outH, b, w, c]);
    const cols = tf.reshape(tf.matMul(wx, tf.reshape(tf.transpose(rowsFirst, [2, 1, 0, 3]), [w, b * outH * c])), [outW, b, outH, c]);
    return tf.transpose(cols, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

let customOpsRegistered = false;
function registerCustomOps(): void {
  if (customOpsRegistered) return;
  customOpsRegistered = true;
  tf.registerOp('ResizeBicubic', (node) => {
    if (node.attrs.align_corners === true || node.attrs.half_pixel_centers === false) throw new Error('tfjs runner: ResizeBicubic supports half_pixel_centers=true, align_corners=false only');
    const [x, size] = node.inputs;
    const [oh, ow] = Array.from(size.dataSync());
    return resizeBicubic(x as tf.Tensor4D, oh, ow);
  });
}

/** Graph -> tfjs GraphModel; Const values travel as the model's weights. */
export async function loadTfjsGraph(graph: Graph): Promise<tf.GraphModel> {
  registerCustomOps();
  const g = prune(graph);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  const node = g.nodes.map((n) => {
    if (n.op === 'Const') {
      const t = constValue(n);
      const dtype = tfjsDtype(t, n.name);
      weightSpecs.push({ name: n.name, shape: t.shape, dtype });
      const data = dtype === 'int32' && t.dtype !== 'int32' ? Int32Array.from(t.data) : t.data;
      chunks.push(new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
    }
    return nodeJson(n);
  });
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const weightData = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    weightData.set(c, off);
    off += c.length;
  }
  const handler = tf.io.fromMemory({ modelTopology: { node, versions: { producer: 134 } }, weightSpecs, weightData: weightData.buffer, format: 'graph-model' });
  return tf.loadGraphModel(handler);
}

/** Runs a loaded graph on one uint8 batch [B,H,W,3]; returns each signature output as [B, dim] rows. */
export function runTfjsGraph(model: tf.GraphModel, graph: Graph, batch: { data: Uint8Array; shape: [number, number, number, number] }): Record<string, Float32Array> {
  const [inKey] = Object.keys(graph.inputs);
  const outKeys = Object.keys(graph.outputs);
  return tf.tidy(() => {
    const x = tf.tensor4d(Int32Array.from(batch.data), batch.shape, 'int32');
    const outs = model.execute({ [nodeOf(graph.inputs[inKey].name)]: x }, outKeys.map((k) => graph.outputs[k].name.replace(/:0$/, ''))) as tf.Tensor | tf.Tensor[];
    const list = Array.isArray(outs) ? outs : [outs];
    return Object.fromEntries(outKeys.map((k, i) => [k, list[i].dataSync() as Float32Array]));
  });
}

/**
 * An Embedder over the graph run by tfjs: the fallback when ONNX Runtime is not wanted. tfjs has no
 * float64, so the graph's own Pillow resampling could land pixels one level off: images come here
 * resized on the host by the same code (resizeForModel), and the graph's resize is then the identity.
 */
export class TfjsGraphEmbedder implements Embedder {
  readonly name = 'tfjs-graph';
  private constructor(private readonly model: tf.GraphModel, private readonly graph: Graph, readonly dim: number, readonly preprocess: Preprocess) {}

  static async create(graph: Graph, preprocess: Preprocess, output = 'embedding'): Promise<TfjsGraphEmbedder> {
    const spec = graph.outputs[output];
    if (!spec) throw new Error(`tfjs graph has no output "${output}" (outputs: ${Object.keys(graph.outputs).join(', ')})`);
    const dim = spec.shape?.[spec.shape.length - 1] ?? -1;
    return new TfjsGraphEmbedder(await loadTfjsGraph({ ...graph, outputs: { [output]: spec } }), { ...graph, outputs: { [output]: spec } }, dim, preprocess);
  }

  async embed(images: RgbImage[]): Promise<Float32Array> {
    const out = new Float32Array(images.length * this.dim);
    for (const [i, raw] of images.entries()) {
      const im = await resizeForModel(raw, this.preprocess);
      const [v] = Object.values(runTfjsGraph(this.model, this.graph, { data: im.data, shape: [1, im.height, im.width, 3] }));
      out.set(v, i * this.dim);
    }
    return out;
  }

  dispose(): void {
    this.model.dispose();
  }
}
