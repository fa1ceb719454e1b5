/** Row-major host arrays and their shapes: element counts and axis permutations (np.transpose), for weights moving between PyTorch and TF layouts. */

export type Shape = number[];

export function numel(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** `perm` applied to a row-major array of `shape`, as np.transpose(x, perm): output axis k is input axis perm[k]. */
export function permute(data: Float32Array, shape: Shape, perm: number[]): Float32Array {
  const rank = shape.length;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, k) => p !== k)) throw new Error(`permute: [${perm}] is not a permutation of the ${rank} axes of [${shape}]`);
  if (data.length !== numel(shape)) throw new Error(`permute: ${data.length} values for shape [${shape}]`);
  if (rank === 2 && perm[0] === 1) return transpose2d(data, shape[0], shape[1]);
  const strides = new Array<number>(rank);
  for (let k = rank - 1, s = 1; k >= 0; s *= shape[k], k--) strides[k] = s;
  const outShape = perm.map((p) => shape[p]);
  const step = perm.map((p) => strides[p]);
  const out = new Float32Array(data.length);
  const index = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = data[src];
    // odometer over the output's axes, moving the source offset by the matching input strides
    for (let k = rank - 1; k >= 0; k--) {
      src += step[k];
      if (++index[k] < outShape[k]) break;
      src -= step[k] * outShape[k];
      index[k] = 0;
    }
  }
  return out;
}

/** A row-major [rows, cols] matrix as [cols, rows] (PyTorch Linear [out, in] <-> TF MatMul [in, out]). */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** The permutation that undoes `perm`. */
export function inversePermutation(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, k) => (inv[p] = k));
  return inv;
}
