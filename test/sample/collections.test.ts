/**
 * The photo collections registry on the installed packages: every domain found with its licence and
 * real photo folders; a package that is not installed is reported per domain, not thrown.
 */
import * as fs from 'fs';
import { installedCollections, PHOTO_COLLECTIONS } from '../../lib/data/builders/collections';

test('every collection is installed by npm ci, with existing photo folders', () => {
  const { found, missing } = installedCollections();
  expect(missing).toEqual([]);
  expect(found.map((c) => c.domain)).toEqual(PHOTO_COLLECTIONS.map((c) => c.domain));
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
  const { found, missing } = installedCollections(['dishes', 'nature', 'apparel'], resolve);
  expect(found.map((c) => c.domain)).toEqual(['dishes']);
  expect(missing).toEqual(['apparel: package @pictwo/images is not installed (npm ci installs it)', 'nature: package @pictwo/images is not installed (npm ci installs it)']);
  expect(() => installedCollections(['dishes', 'cars'])).toThrow(/unknown domain\(s\) cars/);
});
