/**
 * The builders' folder writer (lib/data/builders/write.ts), which the jig's demo gallery and notebook 01's
 * demo folders use: views rendered by the sample's renderer (or the photos' own bytes), the whole folder
 * swapped in at once, reused by its stamp, and a photo that cannot be rendered named without leaving a folder.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { makeDemoFolders } from '../../lib/data/demo';
import { picturesSource } from '../../lib/data/builders/photos';
import { DEFAULT_VIEW_AUGMENT, drawViewParams, renderView } from '../../lib/data/builders/views';
import { Rng } from '../../lib/util/random';
import { writeViewFolders } from '../../lib/data/builders/write';
import { buildDemoGallery, DEMO_VIEW_AUGMENT } from '../../lib/jig/demo-gallery';

let tmp: string;
beforeAll(() => void (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-folders-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const photos = () => {
  const dir = picturesSource().dir;
  return fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort().slice(0, 3).map((f) => path.join(dir, f));
};

test('rendered views equal the sample renderer with the same key; the stamp reuses; a new stamp rebuilds whole', async () => {
  const dir = path.join(tmp, 'views');
  const [a, b] = photos();
  const views = [
    { rel: 'x/a0.jpg', file: a, key: 'k/a/0' },
    { rel: 'x/a1.jpg', file: a, key: 'k/a/1' },
    { rel: 'y/b0.jpg', file: b, key: 'k/b/0' },
  ];
  expect(await writeViewFolders(dir, views, { augment: DEFAULT_VIEW_AUGMENT, size: 96, stamp: { v: 1 } })).toBe(true);
  for (const v of views) {
    const want = await renderView(fs.readFileSync(v.file), drawViewParams(Rng.fromKey(v.key), DEFAULT_VIEW_AUGMENT), 96);
    expect(fs.readFileSync(path.join(dir, v.rel)).equals(want)).toBe(true);
  }
  const meta = await sharp(path.join(dir, 'x/a0.jpg')).metadata();
  expect(Math.max(meta.width!, meta.height!)).toBe(96);
  expect(fs.readFileSync(path.join(dir, 'x/a0.jpg')).equals(fs.readFileSync(path.join(dir, 'x/a1.jpg')))).toBe(false);

  const mtime = fs.statSync(path.join(dir, 'x/a0.jpg')).mtimeMs;
  expect(await writeViewFolders(dir, views, { augment: DEFAULT_VIEW_AUGMENT, size: 96, stamp: { v: 1 } })).toBe(false);
  expect(fs.statSync(path.join(dir, 'x/a0.jpg')).mtimeMs).toBe(mtime);

  // a new stamp: the old folder's files do not survive the swap
  expect(await writeViewFolders(dir, views.slice(2), { augment: null, size: 0, stamp: { v: 2 } })).toBe(true);
  expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
  expect(fs.readFileSync(path.join(dir, 'y/b0.jpg')).equals(fs.readFileSync(b))).toBe(true); // augment null: the photo's own bytes
});

test('a photo that cannot be rendered is named, and the folder it would replace stays as it was', async () => {
  const dir = path.join(tmp, 'bad');
  const [a] = photos();
  await writeViewFolders(dir, [{ rel: 'a.jpg', file: a, key: 'k' }], { augment: DEFAULT_VIEW_AUGMENT, size: 64, stamp: 1 });
  const broken = path.join(tmp, 'broken.jpg');
  fs.writeFileSync(broken, fs.readFileSync(a).subarray(0, 200));
  await expect(writeViewFolders(dir, [{ rel: 'a.jpg', file: a, key: 'k' }, { rel: 'b.jpg', file: broken, key: 'k2' }], { augment: DEFAULT_VIEW_AUGMENT, size: 64, stamp: 2 })).rejects.toThrow(`${broken}: cannot render view k2`);
  expect(fs.readdirSync(dir).sort()).toEqual(['a.jpg', 'build.json']);
  expect(fs.readFileSync(path.join(dir, 'build.json'), 'utf8')).toBe('1');
});

test('the jig demo gallery and notebook 01 demo folders come from the one writer', async () => {
  const demo = await buildDemoGallery(path.join(tmp, 'demo'), { pictures: 4, views: 2, queryViews: 1 });
  const gallery = fs.readdirSync(demo.gallery, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.jpg')).sort();
  expect(gallery).toHaveLength(8);
  const first = gallery[0]; // group-<letter>/<code>/v0.jpg
  const code = first.split(path.sep)[1];
  const src = fs.readdirSync(picturesSource().dir).find((f) => f.startsWith(`${code}.`))!;
  const want = await renderView(fs.readFileSync(path.join(picturesSource().dir, src)), drawViewParams(Rng.fromKey(`demo/1/${code}/v0`), DEMO_VIEW_AUGMENT), 256);
  expect(fs.readFileSync(path.join(demo.gallery, first)).equals(want)).toBe(true);

  const sources = await makeDemoFolders(path.join(tmp, 'nb01'), { one: ['A'], two: ['B'] });
  expect(sources.map((s) => s.name)).toEqual(['one', 'two']);
  const aFiles = fs.readdirSync(path.join(sources[0].root, 'A'));
  expect(aFiles.length).toBeGreaterThan(5);
  expect(aFiles.every((f) => f.startsWith('A'))).toBe(true);
  expect(fs.readFileSync(path.join(sources[0].root, 'A', aFiles[0])).equals(fs.readFileSync(path.join(picturesSource().dir, aFiles[0])))).toBe(true);
  expect(fs.readdirSync(path.join(tmp, 'nb01')).sort()).toEqual(['build.json', 'one', 'two']);
});
