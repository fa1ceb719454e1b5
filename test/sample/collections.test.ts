/**
 * The photo collections registry on the installed packages: every domain found with its licence and
 * real photo folders; a package that is not installed (npm) or not fetched (Debian) is reported per domain,
 * not thrown; a fetched Debian package counts only once its done.json is there.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { installedCollections, PHOTO_COLLECTIONS } from '../../lib/data/builders/collections';

const NPM = PHOTO_COLLECTIONS.filter((c) => c.from === 'npm');
const DEBIAN = PHOTO_COLLECTIONS.filter((c) => c.from === 'debian');

test('every npm collection is installed by npm ci, with existing photo folders; Debian ones without a cache are missing', () => {
  const { found, missing } = installedCollections(undefined, undefined);
  expect(missing).toEqual(DEBIAN.map((c) => `${c.domain}: Debian package ${c.package} is not fetched (guie fetch-photos fetches it)`));
  expect(found.map((c) => c.domain)).toEqual(NPM.map((c) => c.domain));
  expect(new Set(found.map((c) => c.domain)).size).toBeGreaterThanOrEqual(6);
  for (const c of found) {
    expect(c.version).toMatch(/^\d+\.\d+\.\d+/);
    for (const d of c.dirs) expect(fs.readdirSync(d).filter((f) => /\.(jpe?g|webp|png)$/i.test(f)).length).toBeGreaterThanOrEqual(45);
  }
  // the faces-as-subject folders of @pictwo/images are never drawn from
  expect(found.flatMap((c) => c.dirs).some((d) => /avatar|profile|people/.test(d))).toBe(false);
});

test('a package that is not installed drops its domains with the reason; an unknown domain is an error', () => {
  const resolve = (id: string) => {
    if (id.startsWith('@pictwo/images')) throw new Error('not found');
    return require.resolve(id);
  };
  const { found, missing } = installedCollections(['dishes', 'nature', 'apparel'], undefined, resolve);
  expect(found.map((c) => c.domain)).toEqual(['dishes']);
  expect(missing).toEqual(['apparel: package @pictwo/images is not installed (npm ci installs it)', 'nature: package @pictwo/images is not installed (npm ci installs it)']);
  expect(() => installedCollections(['dishes', 'cars'], undefined)).toThrow(/unknown domain\(s\) cars/);
});

test('a Debian collection is found once its cache folder has done.json, with the fetched version and folders', () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-collections-'));
  try {
    const dir = path.join(cache, 'krank_0.7+dfsg2-4');
    fs.mkdirSync(path.join(dir, 'underwater', 'reef'), { recursive: true });
    const notFetched = 'underwater: Debian package krank is not fetched (guie fetch-photos fetches it)';
    expect(installedCollections(['underwater', 'dishes'], cache)).toMatchObject({ found: [{ domain: 'dishes' }], missing: [notFetched] });
    const done = { package: 'krank', version: '0.7+dfsg2-4', fetched: '2024-01-01T00:00:00.000Z', debBytes: 1, license: 'copyright', domains: { underwater: { folders: ['underwater/reef'], files: 0 } } };
    fs.writeFileSync(path.join(dir, 'done.json'), JSON.stringify(done));
    const { found, missing } = installedCollections(['underwater'], cache);
    expect(missing).toEqual([]);
    expect(found).toEqual([{ ...DEBIAN.find((c) => c.domain === 'underwater'), version: '0.7+dfsg2-4', dirs: [path.join(dir, 'underwater', 'reef')] }]);
    // a marker naming a folder that is gone: missing, with the reason
    fs.rmSync(path.join(dir, 'underwater'), { recursive: true });
    expect(installedCollections(['underwater'], cache).missing).toEqual([`underwater: ${path.join(dir, 'underwater', 'reef')} is missing from the fetched krank (guie fetch-photos fetches it again)`]);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
