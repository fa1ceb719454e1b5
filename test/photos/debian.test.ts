/**
 * Fetching a Debian photo collection for real (`apt-get download` of gcompris-qt-data, the smallest of the
 * registry's packages, whose photos lie inside Qt resource archives) into a temporary cache: complete
 * folders with their licence and marker, nothing else left behind, a second fetch that does nothing, and a
 * package that does not exist coming back as a reason with no cache folder.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fetchDebianPackage, fetchedPackage, type FetchedMarker } from '../../lib/data/photos/debian';
import { debianPackages, fetchMissingPhotos, formatFetch, offline } from '../../lib/data/photos/fetch';

const PKG = 'gcompris-qt-data';
let cache: string;

beforeAll(() => {
  cache = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-photos-'));
});
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

test('a real fetch keeps only the chosen photos, the copyright and done.json; fetching again is a no-op', () => {
  const collections = debianPackages().get(PKG)!;
  expect(collections.map((c) => c.domain)).toEqual(['landmarks', 'wildlife', 'tools']);
  const r = fetchDebianPackage(PKG, collections, cache);
  if (!r.ok) throw new Error(r.reason);
  expect(r.cached).toBe(false);
  expect(r.bytes).toBeGreaterThan(10e6);
  expect(fs.readdirSync(cache)).toEqual([path.basename(r.dir)]); // no .deb, no extracted package, no work folder
  expect(path.basename(r.dir)).toBe(`${PKG}_${r.version}`);

  const done = JSON.parse(fs.readFileSync(path.join(r.dir, 'done.json'), 'utf8')) as FetchedMarker;
  expect(done).toMatchObject({ package: PKG, version: r.version, debBytes: r.bytes, license: 'copyright' });
  expect(fs.readFileSync(path.join(r.dir, 'copyright'), 'utf8')).toMatch(/^Format: .*copyright-format[\s\S]*explore_monuments/);
  expect(fs.readdirSync(r.dir).sort()).toEqual(['copyright', 'done.json', 'landmarks', 'tools', 'wildlife']);
  for (const c of collections) {
    const { folders, files } = done.domains[c.domain];
    expect(folders).toEqual(c.select.map((s) => path.join(c.domain, s.name)));
    const images = folders.flatMap((f) => fs.readdirSync(path.join(r.dir, f)));
    expect(images.length).toBe(files);
    expect(files).toBeGreaterThanOrEqual(50);
    expect(images.every((f) => /\.(webp|jpe?g|png)$/.test(f))).toBe(true); // the drawings (.svg) are left out
    expect(r.files[c.domain]).toBe(files);
  }
  // the details puzzle's van Gogh paintings are not landmarks
  expect(fs.readdirSync(path.join(r.dir, 'landmarks', 'details')).some((f) => /Gogh|Eglise|Portrait/.test(f))).toBe(false);
  expect(fs.readdirSync(path.join(r.dir, 'landmarks', 'details'))).toContain('TajMahal_background.webp');

  const lines: string[] = [];
  expect(fetchMissingPhotos(['landmarks', 'wildlife', 'tools', 'dishes'], cache, (l) => lines.push(l))).toEqual([]);
  expect(lines).toEqual([]);
  const again = fetchDebianPackage(PKG, collections, cache);
  expect(again).toMatchObject({ ok: true, cached: true, dir: r.dir, version: r.version, files: r.files });
  expect(fetchedPackage(cache, PKG)?.done).toEqual(done);
}, 120_000);

test('a package that does not exist: the reason comes back and no cache folder is left', () => {
  const lines: string[] = [];
  const before = fs.readdirSync(cache);
  const r = fetchDebianPackage('guie-no-such-package', [{ domain: 'nowhere', select: [{ name: 'x', folder: 'usr/share/x' }] }], cache);
  expect(r).toEqual({ ok: false, package: 'guie-no-such-package', reason: expect.stringMatching(/^apt-get download .*guie-no-such-package failed \(exit 100\): E: Unable to locate package guie-no-such-package/) });
  expect(fs.readdirSync(cache)).toEqual(before);
  expect(fetchedPackage(cache, 'guie-no-such-package')).toBeNull();
  expect(fetchMissingPhotos(['dishes'], cache, (l) => lines.push(l))).toEqual([]); // npm domains never fetch
  expect(lines).toEqual([]);
});

test('a package folder without done.json is never read as fetched', () => {
  const half = path.join(cache, 'krank_0.7+dfsg2-4');
  fs.mkdirSync(path.join(half, 'underwater', 'reef'), { recursive: true });
  expect(fetchedPackage(cache, 'krank')).toBeNull();
  fs.rmSync(half, { recursive: true });
});

test('GUIE_OFFLINE=1 (or true/yes) turns the main job\'s fetch off; progress lines name package, MB and seconds', () => {
  expect(['1', 'true', 'YES'].map((v) => offline({ GUIE_OFFLINE: v }))).toEqual([true, true, true]);
  expect(['', '0', 'no'].map((v) => offline({ GUIE_OFFLINE: v })).concat(offline({}))).toEqual([false, false, false, false]);
  expect(formatFetch({ ok: true, package: 'krank', version: '1-2', dir: '/c/krank_1-2', cached: false, bytes: 58_065_456, seconds: 6.31, files: { underwater: 41 } })).toBe('photos: krank 1-2: 58.1 MB in 6.3 s (underwater 41)');
  expect(formatFetch({ ok: false, package: 'krank', reason: 'apt-get is not available (not a Debian system?)' })).toBe('photos: krank not fetched: apt-get is not available (not a Debian system?)');
});
