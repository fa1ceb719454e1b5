/**
 * Fetching the Debian photo collections of the registry that are not in the photo cache yet, one package at
 * a time (a package may give several domains), one log line per package; a failure is reported with its
 * reason and the others go on.
 */
import * as path from 'path';
import { PHOTO_COLLECTIONS, type DebianCollection } from '../builders/collections';
import { PROJECT_ROOT } from '../../util/paths';
import { fetchDebianPackage, fetchedPackage, type FetchResult } from './debian';

/** `GUIE_OFFLINE=1` (or true/yes): the main job uses only what is already on this machine. */
export function offline(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes)$/i.test(env.GUIE_OFFLINE ?? '');
}

/** Where fetched collections live: `<paths.cache>/photos`. */
export function photoCacheDir(cache: string): string {
  return path.resolve(PROJECT_ROOT, cache, 'photos');
}

/** The Debian collections of these domains (default all), grouped by package in registry order. */
export function debianPackages(domains?: readonly string[]): Map<string, DebianCollection[]> {
  const byPackage = new Map<string, DebianCollection[]>();
  for (const c of PHOTO_COLLECTIONS) {
    if (c.from !== 'debian' || (domains && !domains.includes(c.domain))) continue;
    byPackage.set(c.package, [...(byPackage.get(c.package) ?? []), c]);
  }
  return byPackage;
}

export function formatFetch(r: FetchResult): string {
  if (!r.ok) return `photos: ${r.package} not fetched: ${r.reason}`;
  const counts = Object.entries(r.files).map(([d, n]) => `${d} ${n}`).join(', ');
  return r.cached ? `photos: ${r.package} ${r.version} already fetched (${counts})` : `photos: ${r.package} ${r.version}: ${(r.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(1)} s (${counts})`;
}

/** Fetches every package of these domains that is not complete in `photoCache` yet; one result per package. */
export function fetchMissingPhotos(domains: readonly string[] | undefined, photoCache: string, log: (line: string) => void): FetchResult[] {
  const results: FetchResult[] = [];
  const all = debianPackages();
  // every collection of a needed package is extracted: a fetch for some domains must not drop the others
  for (const pkg of debianPackages(domains).keys()) {
    const collections = all.get(pkg)!;
    const have = fetchedPackage(photoCache, pkg);
    if (have && collections.every((c) => have.done.domains[c.domain])) continue;
    log(`photos: fetching Debian package ${pkg} (${collections.map((c) => c.domain).join(', ')})`);
    const r = fetchDebianPackage(pkg, collections, photoCache);
    log(formatFetch(r));
    results.push(r);
  }
  return results;
}
