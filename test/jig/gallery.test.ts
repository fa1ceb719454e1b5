/** Galleries from folders and TFRecords, the fingerprinted cache, and the demo embedder. */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { encodeRecord } from '../../lib/data/schema';
import { writeTfRecords } from '../../lib/data/tfrecord';
import { demoDescriptor, DemoEmbedder } from '../../lib/jig/demo-embedder';
import { jigCommand } from '../../lib/jig/commands';
import { listImageFolder, openGallery } from '../../lib/jig/gallery';
import { disposeFixture, makeFixture, type Fixture } from './fixture';

let fx: Fixture;
beforeAll(async () => {
  fx = await makeFixture({}, 12);
});
afterAll(async () => {
  if (fx) await disposeFixture(fx);
});

const cacheDir = () => path.join(fx.root, 'cache');

test('folder gallery: keys, labels from sub-folders, domains from the top folder', () => {
  expect(fx.gallery.size).toBe(36);
  const it = fx.gallery.items[0];
  expect(it.key).toMatch(/^group-([A-Z])\/\1\d{3}\/v0\.jpg$/);
  expect(it.label).toBe(it.key.split('/')[1]);
  expect(it.domain).toBe(it.key.split('/')[0]);
  expect(fx.gallery.stats().labels).toBe(12);
  expect(fx.gallery.info.cached).toBe(false);
});

test('a reopened unchanged gallery comes from the cache with identical vectors; a changed file or model rebuilds', async () => {
  const again = await openGallery(fx.demo.gallery, new DemoEmbedder(), { cacheDir: cacheDir(), progressMode: 'silent' });
  expect(again.info.cached).toBe(true);
  expect(again.info.fingerprint).toBe(fx.gallery.info.fingerprint);
  expect(Array.from(again.index.vectors)).toEqual(Array.from(fx.gallery.index.vectors));
  expect(again.thumbnail(5)!.equals(fx.gallery.thumbnail(5)!)).toBe(true);
  await again.dispose();

  const otherModel = await openGallery(fx.demo.gallery, new DemoEmbedder(), { cacheDir: cacheDir(), progressMode: 'silent', modelFingerprint: 'weights-v2' });
  expect(otherModel.info.cached).toBe(false);
  expect(otherModel.info.fingerprint).not.toBe(fx.gallery.info.fingerprint);
  await otherModel.dispose();

  // Same name, different bytes: the content hash notices.
  const copy = path.join(fx.root, 'copy');
  fs.cpSync(fx.demo.gallery, copy, { recursive: true });
  const before = await openGallery(copy, new DemoEmbedder(), { cacheDir: cacheDir(), progressMode: 'silent' });
  const target = listImageFolder(copy)[4];
  fs.writeFileSync(target.file, await sharp(target.file).flop().negate().jpeg().toBuffer());
  const after = await openGallery(copy, new DemoEmbedder(), { cacheDir: cacheDir(), progressMode: 'silent' });
  expect(after.info.cached).toBe(false);
  expect(after.info.fingerprint).not.toBe(before.info.fingerprint);
  const row = (g: typeof after, i: number) => Array.from(g.index.vectors.subarray(i * 64, (i + 1) * 64));
  expect(row(after, 4)).not.toEqual(row(before, 4));
  expect(row(after, 3)).toEqual(row(before, 3));
  await before.dispose();
  await after.dispose();
});

test('a TFRecord gallery (labels and sources from the records) answers like the folder one', async () => {
  const files = listImageFolder(fx.demo.gallery);
  const labels = [...new Set(files.map((f) => f.label!))];
  const shard = path.join(fx.root, 'gallery.tfrecord');
  writeTfRecords(shard, files.map((f) => encodeRecord({ image: fs.readFileSync(f.file), label: labels.indexOf(f.label!), id: f.key, source: f.domain })));
  const g = await openGallery(shard, new DemoEmbedder(), { cacheDir: cacheDir(), progressMode: 'silent' });
  expect(g.size).toBe(files.length);
  expect(g.items[7]).toEqual({ key: files[7].key, label: String(labels.indexOf(files[7].label!)), domain: files[7].domain });
  // Same bytes, same embedder: same vectors as the folder gallery, row for row.
  expect(Array.from(g.index.vectors)).toEqual(Array.from(fx.gallery.index.vectors));
  const q = fx.queries[2];
  const [top] = await g.search(await g.embedEncoded([fs.readFileSync(q.file)]), 5);
  expect(top.map((m) => m.label)).toContain(String(labels.indexOf(q.label)));
  await g.dispose();
});

test('a gallery file that is not an image is skipped and named; the rest of the folder opens', async () => {
  const bad = path.join(fx.root, 'bad');
  fs.mkdirSync(path.join(bad, 'cats'), { recursive: true });
  fs.copyFileSync(fx.queries[0].file, path.join(bad, 'cats', 'good.jpg'));
  fs.copyFileSync(fx.queries[1].file, path.join(bad, 'cats', 'good2.jpg'));
  fs.writeFileSync(path.join(bad, 'cats', 'broken.jpg'), 'not a jpeg');
  const said: string[] = [];
  const g = await openGallery(bad, new DemoEmbedder(), { cacheDir: cacheDir(), progressMode: 'silent', log: (m) => said.push(m) });
  expect(said.join('\n')).toMatch(/skipped 1 unreadable images \(--strict fails instead\), first: .*cats\/broken\.jpg: not a supported image/);
  expect(g.items.map((i) => i.key)).toEqual(['cats/good.jpg', 'cats/good2.jpg']);
  expect(g.index.size).toBe(2);
  // reopened from its cache: the same two images, no second warning needed
  const again = await openGallery(bad, new DemoEmbedder(), { cacheDir: cacheDir(), progressMode: 'silent', log: (m) => said.push(m) });
  expect([again.info.cached, again.items.length]).toEqual([true, 2]);
  await expect(openGallery(path.join(fx.root, 'missing'), new DemoEmbedder(), { cacheDir: cacheDir() })).rejects.toThrow(/missing: no such file or folder/);
  // --strict: the same folder is an error naming the file (a fresh cache, so it is embedded again)
  await expect(openGallery(bad, new DemoEmbedder(), { cacheDir: path.join(fx.root, 'strict-cache'), progressMode: 'silent', strict: true })).rejects.toThrow(/cats\/broken\.jpg: not a supported image.*--strict: no image is skipped/);
});

test('a query file that does not decode is skipped, named in the log and the report, and left out of the metrics; --strict fails on it', async () => {
  const queries = path.join(fx.root, 'queries-with-bad');
  fs.cpSync(fx.demo.queries, queries, { recursive: true });
  const listed = listImageFolder(queries);
  const victim = listed[4];
  fs.writeFileSync(victim.file, Buffer.alloc(0));
  const lines: string[] = [];
  const out = path.join(fx.root, 'bad-queries.html');
  const r = await jigCommand({ gallery: fx.demo.gallery, queries, out, k: 5, cacheDir: cacheDir() }, (l) => lines.push(l));
  expect(r.skipped).toEqual([{ file: victim.file, reason: expect.stringContaining(`${victim.file}: empty body`) }]);
  expect(r.queries.map((q) => q.key)).toEqual(listed.filter((f) => f !== victim).map((f) => f.key));
  expect(r.metrics!.overall.queries).toBe(listed.length - 1);
  expect(lines.join('\n')).toMatch(/skipped 1 unreadable images \(--strict fails instead\), first: .*: empty body/);
  expect(fs.readFileSync(out, 'utf8')).toMatch(/1 query file did not decode and is left out: .*empty body/);
  await expect(jigCommand({ gallery: fx.demo.gallery, queries, out, k: 5, cacheDir: cacheDir(), strict: true }, () => undefined)).rejects.toThrow(/empty body \(--strict: no query is skipped\)/);
});

test('demo descriptor: hand-computed bins for flat colours, unit length, any input size', async () => {
  const flat = (r: number, g: number, b: number, size = 64) => ({ data: new Uint8Array(size * size * 3).map((_, i) => [r, g, b][i % 3]), width: size, height: size });
  const red = demoDescriptor(flat(255, 0, 0));
  // Saturated red: hue bin 0, brightness bin 3 -> dim 3; no gradients in a flat image.
  expect(red[3]).toBeCloseTo(1, 6);
  expect(red.reduce((s, v) => s + v * v, 0)).toBeCloseTo(1, 6);
  const grey = demoDescriptor(flat(100, 100, 100));
  // Unsaturated: grey level floor(100/255*8)=3 -> dim 32+3.
  expect(grey[35]).toBeCloseTo(1, 6);
  // Half black / half white: 2 grey bins at 1/sqrt(2) after Hellinger; vertical edge -> horizontal gradient bins.
  const half = { data: new Uint8Array(64 * 64 * 3).map((_, i) => ((Math.floor(i / 3) % 64) < 32 ? 0 : 255)), width: 64, height: 64 };
  const h = demoDescriptor(half);
  expect(h[32] / h[39]).toBeCloseTo(1, 6);
  expect(h.slice(40).some((v) => v > 0)).toBe(true);
  const big = await new DemoEmbedder().embed([flat(255, 0, 0, 300)]);
  expect(Array.from(big)).toEqual(Array.from(red));
});
