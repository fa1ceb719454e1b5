/**
 * An Embedder backed by ONNX Runtime (the project's fast inference engine: CPU here, CUDA where a
 * user has it), with a switch back to the tfjs runner over the same graph.
 */
import * as ort from 'onnxruntime-node';
import type { Embedder } from '../embedder';
import type { RgbImage } from '../core/rgb-image';
import type { Preprocess } from '../core/preprocess';
import type { Graph } from './graph';
import { readSavedModel } from './savedmodel';
import { TfjsGraphEmbedder } from './tfjs-graph';

export type EmbedEngine = 'onnxruntime' | 'tfjs';

/** GUIE_ENGINE=onnxruntime|tfjs picks the engine; default ONNX Runtime (the fast one). */
export function engineFromEnv(env: NodeJS.ProcessEnv = process.env): EmbedEngine {
  const v = env.GUIE_ENGINE ?? 'onnxruntime';
  if (v !== 'onnxruntime' && v !== 'tfjs') throw new Error(`GUIE_ENGINE="${v}": choose onnxruntime or tfjs`);
  return v;
}

export interface OnnxEmbedderOptions {
  /** Execution providers in preference order (default: CUDA if requested via GUIE_ORT_CUDA=1, then CPU). */
  providers?: string[];
  intraOpNumThreads?: number;
  output?: string;
}

export class OnnxEmbedder implements Embedder {
  readonly name = 'onnxruntime';
  private constructor(private readonly session: ort.InferenceSession, private readonly input: string, private readonly output: string, readonly dim: number, readonly preprocess: Preprocess) {}

  static async create(onnxFile: string, preprocess: Preprocess, opts: OnnxEmbedderOptions = {}): Promise<OnnxEmbedder> {
    const providers = opts.providers ?? (process.env.GUIE_ORT_CUDA === '1' ? ['cuda', 'cpu'] : ['cpu']);
    const session = await ort.InferenceSession.create(onnxFile, {
      executionProviders: providers,
      graphOptimizationLevel: 'all',
      ...(opts.intraOpNumThreads ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
    });
    const output = opts.output ?? 'embedding';
    if (!session.outputNames.includes(output)) throw new Error(`${onnxFile}: no output "${output}" (outputs: ${session.outputNames.join(', ')})`);
    const input = session.inputNames[0];
    // One probe at the model's own size gives the output width without trusting metadata
    const s = preprocess.imageSize;
    const probe = await session.run({ [input]: new ort.Tensor('uint8', new Uint8Array(s * s * 3), [1, s, s, 3]) });
    return new OnnxEmbedder(session, input, output, probe[output].dims[1], preprocess);
  }

  /** Images of one size share a batch; sizes differ freely across calls (the graph resizes). */
  async embed(images: RgbImage[]): Promise<Float32Array> {
    const out = new Float32Array(images.length * this.dim);
    const bySize = new Map<string, number[]>();
    images.forEach((im, i) => {
      if (im.data.length !== im.width * im.height * 3) throw new Error(`image ${i}: ${im.data.length} bytes for ${im.width}x${im.height} RGB`);
      const k = `${im.width}x${im.height}`;
      bySize.set(k, [...(bySize.get(k) ?? []), i]);
    });
    for (const idx of bySize.values()) {
      const { width, height } = images[idx[0]];
      const batch = new Uint8Array(idx.length * width * height * 3);
      idx.forEach((i, k) => batch.set(images[i].data, k * width * height * 3));
      const res = await this.session.run({ [this.input]: new ort.Tensor('uint8', batch, [idx.length, height, width, 3]) });
      const v = res[this.output].data as Float32Array;
      idx.forEach((i, k) => out.set(v.subarray(k * this.dim, (k + 1) * this.dim), i * this.dim));
    }
    return out;
  }

  dispose(): void {
    void this.session.release();
  }
}

/**
 * The engine switch: ONNX Runtime over the exported file, or tfjs over the graph (in memory, or
 * read back from an exported SavedModel directory).
 */
export async function createExportEmbedder(engine: EmbedEngine, src: { onnxFile?: string; graph?: Graph; savedModelDir?: string }, preprocess: Preprocess): Promise<Embedder> {
  if (engine === 'onnxruntime') {
    if (!src.onnxFile) throw new Error('engine "onnxruntime" needs an ONNX file');
    return OnnxEmbedder.create(src.onnxFile, preprocess);
  }
  const graph = src.graph ?? (src.savedModelDir ? readSavedModel(src.savedModelDir).graph : undefined);
  if (!graph) throw new Error('engine "tfjs" needs the inference graph or a SavedModel directory');
  return TfjsGraphEmbedder.create(graph, preprocess);
}
