/**
 * The tiny ONNX graph behind exact search: scores = Q · Xᵀ (Gemm, transB) -> TopK along the index
 * axis. ONNX Runtime runs it with MLAS GEMM on all threads, the part plain JS loops cannot match.
 * ORT's TopK orders equal scores by lower index first, which the exact index relies on.
 */
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';

function input(name: string, elemType: number, dims: Array<number | string>): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Serialised ModelProto: inputs q [nq,dim] f32, x [n,dim] f32, k [1] i64; outputs scores, indices [nq,k]. */
export function topkModelBytes(dim: number): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const I64 = onnx.TensorProto.DataType.INT64;
  const graph: onnx.IGraphProto = {
    name: 'inner_product_topk',
    node: [
      { opType: 'Gemm', input: ['q', 'x'], output: ['s'], attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
      {
        opType: 'TopK',
        input: ['s', 'k'],
        output: ['scores', 'indices'],
        attribute: [
          { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
          { name: 'largest', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
          { name: 'sorted', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
        ],
      },
    ],
    input: [input('q', F, ['nq', dim]), input('x', F, ['n', dim]), input('k', I64, [1])],
    output: [input('scores', F, ['nq', 'k']), input('indices', I64, ['nq', 'k'])],
  };
  const model: onnx.IModelProto = { irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'guie-ts', graph };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

export interface TopkRunner {
  /** Top-k of each row of q·xᵀ; k <= rows of x. Indices are row numbers within x. */
  run(q: Float32Array, nq: number, x: Float32Array, n: number, k: number): Promise<{ scores: Float32Array; indices: BigInt64Array }>;
  release(): Promise<void>;
}

export async function createTopkRunner(dim: number, threads = 0): Promise<TopkRunner> {
  const session = await ort.InferenceSession.create(topkModelBytes(dim), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  return {
    async run(q, nq, x, n, k) {
      const out = await session.run({
        q: new ort.Tensor('float32', q, [nq, dim]),
        x: new ort.Tensor('float32', x, [n, dim]),
        k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
      });
      return { scores: out.scores.data as Float32Array, indices: out.indices.data as BigInt64Array };
    },
    release: () => session.release(),
  };
}
