/**
 * The training side's preprocessing as TF graph ops, bit for bit: lib/data/image.ts resizeForModel
 * (Pillow 13's antialiased resampling, computed in float64 as libImaging/Resample.c does) and
 * normalizeRgb, on uint8 images of any size, so the exported model takes raw pixels.
 */
import type { Preprocess } from '../core/preprocess';
import { normalizeTable } from '../data/image';
import { f32, GraphBuilder, i32 } from './graph';


const F64 = 'float64' as const;
const I32 = 'int32' as const;
/** Pillow's fixed point: 22 fractional bits in the coefficients (libImaging/Resample.c PRECISION_BITS). */
const PRECISION = 2 ** 22;

/** A float64 constant, stored as an exact float32 Const and cast up (the tfjs runner reads no float64 Consts). */
function f64(g: GraphBuilder, v: number, name: string): string {
  if (Math.fround(v) !== v) throw new Error(`${v} is not exact in float32`);
  return g.cast(g.scalar(v, name), 'float32', F64, `${name}/f64`);
}

function int(g: GraphBuilder, v: number, name: string): string {
  return g.const(i32([v], []), name);
}

/** Pillow's antialiased filters: support and the kernel on |x|, in C's order of operations (float64). */
interface PillowFilter {
  support: number;
  kernel(g: GraphBuilder, ax: string): string;
}

/** BICUBIC, a = -0.5: ((a+2)x - (a+3))x^2 + 1 for x < 1, (((x-5)x + 8)x - 4)a for x < 2, else 0. */
const BICUBIC: PillowFilter = {
  support: 2,
  kernel(g, x) {
    const [add, sub, mul, less] = ['AddV2', 'Sub', 'Mul', 'Less'].map((op) => (a: string, b: string): string => g.typed(op, [a, b], F64));
    const c = (v: number, name: string): string => f64(g, v, name);
    const near = add(mul(mul(sub(mul(c(1.5, 'a_plus_2'), x), c(2.5, 'a_plus_3')), x), x), c(1, 'one'));
    const far = mul(sub(mul(add(mul(sub(x, c(5, 'five')), x), c(8, 'eight')), x), c(4, 'four')), c(-0.5, 'a'));
    return select(g, less(x, c(1, 'one')), near, select(g, less(x, c(2, 'two')), far, c(0, 'zero')));
  },
};

/** BILINEAR: the triangle 1 - x for x < 1, else 0. */
const BILINEAR: PillowFilter = {
  support: 1,
  kernel(g, x) {
    const one = f64(g, 1, 'one');
    return select(g, g.typed('Less', [x, one], F64), g.typed('Sub', [one, x], F64), f64(g, 0, 'zero'));
  },
};

function select(g: GraphBuilder, cond: string, a: string, b: string): string {
  return g.typed('SelectV2', [cond, a, b], F64);
}

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for the `count` output pixels from `first`
 * of a resize of an axis from `inSize` to `outSize` (int32 scalars): the [count, inSize] float64
 * matrix of the integer weights. Taking only some output rows is the centre crop.
 */
function coefficients(g: GraphBuilder, inSize: string, outSize: string, first: string, count: string, filter: PillowFilter): string {
  return g.scope('coefficients', () => {
    const op = (name: string, ...xs: string[]): string => g.typed(name, xs, F64);
    const inF = g.cast(inSize, I32, F64, 'in');
    const scale = op('RealDiv', inF, g.cast(outSize, I32, F64, 'out'));
    const filterScale = op('Maximum', scale, f64(g, 1, 'one'));
    const support = op('Mul', filterScale, f64(g, filter.support, 'support'));
    // center + support as center - (-support): grappler regroups chains of Adds (scalars first), rounding unlike Pillow
    const negSupport = op('Mul', filterScale, f64(g, -filter.support, 'neg_support'));
    const ss = op('RealDiv', f64(g, 1, 'one'), filterScale);
    const half = f64(g, 0.5, 'half');
    const o = g.cast(g.range(first, g.typed('AddV2', [first, count], I32, 'last'), 'out_index'), I32, F64, 'out_index_f64');
    const center = g.reshape(op('Mul', op('AddV2', o, half), scale), [-1, 1], 'center', F64);
    const i = g.reshape(g.cast(g.range(int(g, 0, 'zero'), inSize, 'in_index'), I32, F64, 'in_index_f64'), [1, -1], 'in_index_row', F64);
    const w = filter.kernel(g, op('Abs', op('Mul', op('AddV2', op('Sub', i, center), half), ss)));
    // taps i in [xmin, xmax): C's (int) truncation is floor here (negative xmin is clamped to 0 anyway)
    const xmin = op('Floor', op('AddV2', op('Sub', center, support), half));
    const xmax = op('Floor', op('AddV2', op('Sub', center, negSupport), half));
    const inWindow = g.op('LogicalAnd', [op('GreaterEqual', i, xmin), op('Less', i, xmax)], {}, 'in_window');
    const taps = select(g, inWindow, w, f64(g, 0, 'zero'));
    const total = g.op('Sum', [taps, g.const(i32([1]), 'total/axis')], { T: { type: F64 }, Tidx: { type: I32 }, keep_dims: { b: true } }, 'total');
    const k = select(g, op('Equal', total, f64(g, 0, 'zero')), taps, op('RealDiv', taps, total));
    // (int)(k * 2^22 +- 0.5): rounding half away from zero
    const v = op('Mul', k, f64(g, PRECISION, 'precision'));
    return op('Mul', op('Sign', v), op('Floor', op('AddV2', op('Abs', v), half)));
  });
}

/** Runtime sizes of axes `ks` of a float64 tensor, as int32 scalars. */
function dims(g: GraphBuilder, x: string, ks: number[], names: string[]): string[] {
  const shape = g.op('Shape', [x], { T: { type: F64 }, out_type: { type: I32 } });
  return ks.map((k, j) => g.op('GatherV2', [shape, int(g, k, `${names[j]}/index`), int(g, 0, `${names[j]}/axis`)], { Tparams: { type: I32 }, Tindices: { type: I32 }, Taxis: { type: I32 }, batch_dims: { i: 0 } }, names[j]));
}

/** Reshape to a shape assembled at run time from int32 scalars. */
function reshapeTo(g: GraphBuilder, x: string, shape: string[], name: string): string {
  const packed = g.op('Pack', shape, { N: { i: shape.length }, T: { type: I32 }, axis: { i: 0 } }, `${name}/shape`);
  return g.op('Reshape', [x, packed], { T: { type: F64 }, Tshape: { type: I32 } }, name);
}

/**
 * One resampling pass along an axis of float64 [B,H,W,3] pixels with a [n, size] coefficient
 * matrix: Pillow's integer sum (exact in float64), + 2^21, >> 22, clipped to 0..255. No transposes:
 * [n,W] @ [B,H,W,3] -> [B,H,n,3] (broadcast over B, H), and [n,H] @ [B,H,W*3] -> [B,n,W*3].
 */
function resamplePass(g: GraphBuilder, x: string, coeffs: string, axis: 'height' | 'width'): string {
  return g.scope(`${axis}_pass`, () => {
    const op = (name: string, ...xs: string[]): string => g.typed(name, xs, F64);
    let sum: string;
    if (axis === 'width') sum = g.batchMatMul(coeffs, x, { dtype: F64 });
    else {
      const [b, h, w] = dims(g, x, [0, 1, 2], ['batch', 'height', 'width']);
      const three = int(g, 3, 'three');
      const rows = reshapeTo(g, x, [b, h, g.typed('Mul', [w, three], I32, 'row_values')], 'rows');
      sum = reshapeTo(g, g.batchMatMul(coeffs, rows, { dtype: F64 }), [b, int(g, -1, 'new_height'), w, three], 'pixels');
    }
    const shifted = op('Floor', op('Mul', op('AddV2', sum, f64(g, PRECISION / 2, 'round')), f64(g, 1 / PRECISION, 'unscale')));
    return op('Minimum', op('Maximum', shifted, f64(g, 0, 'zero')), f64(g, 255, 'max'));
  });
}

/** The geometry resizeForModel resizes to, and the centre crop's offsets: int32 scalars from the runtime shape. */
interface Geometry {
  inH: string;
  inW: string;
  outH: string;
  outW: string;
  top: string;
  left: string;
}

/** torchvision CenterCrop's offset, round((size - crop) / 2) with Python's ties to even: q + (d mod 2)(q mod 2), q = d div 2. */
function centreOffset(g: GraphBuilder, size: string, crop: string, name: string): string {
  return g.scope(name, () => {
    const op = (o: string, a: string, b: string): string => g.typed(o, [a, b], I32);
    const d = op('Sub', size, crop);
    const two = int(g, 2, 'two');
    const q = op('FloorDiv', d, two);
    return op('AddV2', q, op('Mul', op('FloorMod', d, two), op('FloorMod', q, two)));
  });
}

function geometry(g: GraphBuilder, x: string, p: Preprocess): Geometry {
  return g.scope('geometry', () => {
    const [inH, inW] = dims(g, x, [1, 2], ['height', 'width']);
    const size = int(g, p.imageSize, 'size');
    // 'shortest_bicubic_crop': shorterSideSize, each side max(S, floor(S * side / other side)); 'bilinear': S x S
    const side = (a: string, b: string, name: string): string =>
      g.typed('Maximum', [size, g.typed('FloorDiv', [g.typed('Mul', [size, a], I32), b], I32)], I32, name);
    const [outH, outW] = p.resize === 'bilinear' ? [size, size] : [side(inH, inW, 'resized_height'), side(inW, inH, 'resized_width')];
    return { inH, inW, outH, outW, top: centreOffset(g, outH, size, 'top'), left: centreOffset(g, outW, size, 'left') };
  });
}

/**
 * Pillow's resize of float64 [B,H,W,3] pixels to the geometry's out size, cropped to S x S. Pillow
 * runs the height pass first when the height shrinks more than twice as much as the width; the
 * order is known only at run time, so both orders are in the graph and the unused one computes
 * one row, then none (0 values: an empty batch dim instead would trip ONNX Runtime's MatMul
 * broadcasting). The two results flattened and concatenated on the batch axis are the used one.
 */
function pillowResize(g: GraphBuilder, x: string, geo: Geometry, size: number, filter: PillowFilter): string {
  return g.scope('resize', () => {
    const op = (o: string, a: string, b: string, name?: string): string => g.typed(o, [a, b], I32, name);
    const shrinkH = op('Sub', geo.inH, geo.outH);
    const heightFirst = g.op('LogicalAnd', [op('Greater', shrinkH, int(g, 0, 'zero')), op('Greater', shrinkH, op('Mul', op('Sub', geo.inW, geo.outW), int(g, 2, 'two')))], {}, 'height_first');
    const s = int(g, size, 'size');
    const one = int(g, 1, 'one');
    // rows of the first and second pass: S and S in the used order, 1 and 0 in the other
    const rows = (used: string, name: string): [string, string] => {
      const second = op('Mul', used, s, `${name}/second_rows`);
      return [op('AddV2', second, op('Sub', one, used), `${name}/first_rows`), second];
    };
    const heightFirstUsed = g.cast(heightFirst, 'bool', I32, 'height_first_used');
    const flat = (t: string): string => g.reshape(t, [-1, size * size * 3], 'flat', F64);
    const widthFirstOut = g.scope('width_first', () => {
      const [first, second] = rows(op('Sub', one, heightFirstUsed, 'used'), 'width_first');
      const w = resamplePass(g, x, coefficients(g, geo.inW, geo.outW, geo.left, first, filter), 'width');
      return flat(resamplePass(g, w, coefficients(g, geo.inH, geo.outH, geo.top, second, filter), 'height'));
    });
    const heightFirstOut = g.scope('height_first', () => {
      const [first, second] = rows(heightFirstUsed, 'height_first');
      const h = resamplePass(g, x, coefficients(g, geo.inH, geo.outH, geo.top, first, filter), 'height');
      return flat(resamplePass(g, h, coefficients(g, geo.inW, geo.outW, geo.left, second, filter), 'width'));
    });
    return g.reshape(g.concat([widthFirstOut, heightFirstOut], 0, 'used_order', F64), [-1, size, size, 3], 'pixels', F64);
  });
}

/** 8-bit values (as float64) -> float32 (v/255 - mean)/std, gathered from normalizeRgb's own table. */
function normalise(g: GraphBuilder, pixels: string, p: Preprocess): string {
  return g.scope('normalise', () => {
    const index = g.typed('AddV2', [g.cast(pixels, F64, I32), g.const(i32([0, 256, 512]), 'channel_offset')], I32, 'table_index');
    const table = g.const(f32(normalizeTable(p), [768]), 'table');
    return g.op('GatherV2', [table, index, int(g, 0, 'axis')], { Tparams: { type: 'float32' }, Tindices: { type: I32 }, Taxis: { type: I32 }, batch_dims: { i: 0 } }, 'normalised');
  });
}

/**
 * uint8 images of any size -> normalised float32 [B,S,S,3], exactly resizeForModel + normalizeRgb
 * (Pillow 13's antialiased resampling): 'shortest_bicubic_crop' resizes the shorter side to S with
 * BICUBIC and centre-crops (CLIP's eval transform); 'bilinear' squashes to S x S with BILINEAR.
 */
export function preprocessGraph(g: GraphBuilder, image: string, p: Preprocess): string {
  return g.scope('preprocess', () => {
    const x = g.cast(image, 'uint8', F64);
    return normalise(g, pillowResize(g, x, geometry(g, x, p), p.imageSize, p.resize === 'bilinear' ? BILINEAR : BICUBIC), p);
  });
}

