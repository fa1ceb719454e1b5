/**
 * Positional-embedding grid resampling for a changed image size or patch stride. Matches
 * open_clip's resize_pos_embed: torch bicubic with antialias=True, align_corners=False, which is
 * PIL's separable cubic filter (a = -0.5) with weights normalised at the borders, for both up- and
 * down-sampling. The class-token row is kept as is.
 */

const CUBIC_A = -0.5;

function cubic(x: number): number {
  const t = Math.abs(x);
  if (t < 1) return ((CUBIC_A + 2) * t - (CUBIC_A + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * CUBIC_A;
  return 0;
}

interface Taps {
  start: number[];
  weights: number[][];
}

/** Per output index: first input index and normalised filter weights (aten upsample_bicubic2d_aa). */
function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const start: number[] = [];
  const weights: number[][] = [];
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w: number[] = [];
    for (let j = lo; j < hi; j++) w.push(cubic((j - center + 0.5) * invScale));
    const total = w.reduce((a, b) => a + b, 0);
    start.push(lo);
    weights.push(w.map((v) => (total !== 0 ? v / total : 0)));
  }
  return { start, weights };
}

/** Resamples one axis of a row-major [outer, n, inner] array to [outer, m, inner]. */
function resampleAxis(src: Float64Array, outer: number, n: number, inner: number, m: number): Float64Array {
  const { start, weights } = taps(n, m);
  const dst = new Float64Array(outer * m * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < m; i++) {
      const dOff = (o * m + i) * inner;
      weights[i].forEach((w, k) => {
        const sOff = (o * n + start[i] + k) * inner;
        for (let c = 0; c < inner; c++) dst[dOff + c] += w * src[sOff + c];
      });
    }
  }
  return dst;
}

/**
 * Resamples a CLIP positional embedding [1 + oldGrid², width] (class row first, then the patch
 * grid row-major) to [1 + newGrid², width].
 */
export function resamplePosEmbed(posEmbed: Float32Array, width: number, oldGrid: number, newGrid: number): Float32Array {
  if (posEmbed.length !== (1 + oldGrid * oldGrid) * width) {
    throw new Error(`positional embedding has ${posEmbed.length} values, expected (1 + ${oldGrid}²) × ${width}`);
  }
  const grid = Float64Array.from(posEmbed.subarray(width));
  const rows = resampleAxis(grid, 1, oldGrid, oldGrid * width, newGrid); // along H
  const both = resampleAxis(rows, newGrid, oldGrid, width, newGrid); // along W
  const out = new Float32Array((1 + newGrid * newGrid) * width);
  out.set(posEmbed.subarray(0, width));
  out.set(both, width);
  return out;
}
