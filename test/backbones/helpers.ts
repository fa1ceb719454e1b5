/** Shared by the backbone tests: a cache dir reused across runs, and real photos turned into model inputs. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { normalizeRgb, resizeForModel } from '../../lib/data/image';
import { listInstances, picturesSource } from '../../lib/data/builders/photos';
import { drawViewParams, renderView, DEFAULT_VIEW_AUGMENT, type ViewAugment } from '../../lib/data/builders/views';
import { Rng } from '../../lib/util/random';
import type { Preprocess } from '../../lib/core/preprocess';

/** Keyed by the package version, so the decode runs once per machine, not once per test run. */
export function sharedCacheDir(): string {
  const pkg = path.join(path.dirname(require.resolve('nsfwjs')), '..', '..', 'package.json');
  const version = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
  return path.join(os.tmpdir(), `guie-test-backbones-nsfwjs-${version}`);
}

export async function toBatch(images: Uint8Array[], p: Preprocess): Promise<tf.Tensor4D> {
  const s = p.imageSize;
  const buf = new Float32Array(images.length * s * s * 3);
  for (let i = 0; i < images.length; i++) normalizeRgb(await resizeForModel(images[i], p), p, buf, i * s * s * 3);
  return tf.tensor4d(buf, [images.length, s, s, 3]);
}

/** Mild view changes (a second shot of the same object): crop, small rotation, colour, JPEG. */
export const MILD: ViewAugment = {
  ...DEFAULT_VIEW_AUGMENT,
  cropArea: [0.6, 0.9],
  rotateDeg: 8,
  shear: 0.05,
  stretch: 0.05,
  brightness: [0.85, 1.15],
  saturation: [0.85, 1.15],
  hueDeg: 5,
  blurProb: 0,
  jpegQuality: [70, 90],
};

/** Two views each of n photos spread over the package (different foods), as [viewsA, viewsB]. */
export async function twoViews(n: number): Promise<[Uint8Array[], Uint8Array[]]> {
  const src = picturesSource();
  const { instances } = await listInstances(src.dir);
  const step = Math.floor(instances.length / n);
  const a: Uint8Array[] = [];
  const b: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const photo = fs.readFileSync(path.join(src.dir, instances[i * step]));
    a.push(await renderView(photo, drawViewParams(Rng.fromKey(`test/${i}/a`), MILD), 256));
    b.push(await renderView(photo, drawViewParams(Rng.fromKey(`test/${i}/b`), MILD), 256));
  }
  return [a, b];
}

/** Cosine similarity matrix rows = a, cols = b. */
export function cosine(a: tf.Tensor2D, b: tf.Tensor2D): number[][] {
  return tf.tidy(() => {
    const na = tf.div(a, tf.norm(a, 2, 1, true));
    const nb = tf.div(b, tf.norm(b, 2, 1, true));
    return tf.matMul(na, nb, false, true).arraySync() as number[][];
  });
}
