/** `guie fetch-photos`: the Debian photo collections into the photo cache, with a per-domain summary. */
import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { installedCollections, PHOTO_COLLECTIONS } from '../builders/collections';
import { distinctPhotos } from '../builders/photos';
import { debianPackages, fetchMissingPhotos, photoCacheDir } from './fetch';

export interface FetchPhotosArgs {
  /** Domains to fetch (default every Debian collection). */
  domains?: string[];
  /** Cache root (default config paths.cache); the photos go to `<cache>/photos`. */
  cache?: string;
  config?: string;
  log?: (line: string) => void;
}

/** Fetches what is missing, then prints photos and distinct photos per domain; exit status 1 when no Debian collection asked for is usable. */
export async function fetchPhotosCommand(a: FetchPhotosArgs): Promise<{ domain: string; files: number; distinct: number }[]> {
  const log = a.log ?? ((l: string) => console.log(l));
  const unknown = (a.domains ?? []).filter((d) => !PHOTO_COLLECTIONS.some((c) => c.domain === d));
  if (unknown.length > 0) throw new Error(`fetch-photos: unknown domain(s) ${unknown.join(', ')} (Debian ones: ${[...debianPackages().values()].flat().map((c) => c.domain).join(', ')})`);
  const domains = [...debianPackages(a.domains).values()].flat().map((c) => c.domain);
  if (domains.length === 0) throw new Error(`fetch-photos: ${a.domains!.join(', ')} ship with npm packages (npm ci installs them); nothing to fetch`);
  const photoCache = photoCacheDir(a.cache ?? loadConfig(a.config).paths.cache);
  fetchMissingPhotos(domains, photoCache, log);
  const { found, missing } = installedCollections(domains, photoCache);
  const summary = [];
  for (const c of found) {
    const { files, instances } = await distinctPhotos(c.dirs);
    summary.push({ domain: c.domain, files, distinct: instances.length });
    log(`  ${c.domain.padEnd(12)} ${String(files).padStart(4)} photos, ${String(instances.length).padStart(4)} distinct  (${c.package} ${c.version}; ${c.license})`);
  }
  for (const m of missing) log(`  ${m}`);
  log(`${summary.reduce((n, s) => n + s.distinct, 0)} distinct photos in ${summary.length} of ${domains.length} domains, in ${photoCache}`);
  if (summary.length === 0) process.exitCode = 1;
  return summary;
}

export function register(program: Command): void {
  program
    .command('fetch-photos')
    .description('fetch the Debian packages of the sample\'s Debian photo collections (apt-get download + dpkg -x, no root needed) into <cache>/photos and keep only their photos and licence; packages already there are skipped, a failed one is reported with its reason. The main job does this by itself unless GUIE_OFFLINE=1')
    .option('--domains <list>', `comma-separated domains (default every Debian one: ${[...debianPackages().values()].flat().map((c) => c.domain).join(', ')})`)
    .option('--cache <dir>', 'cache root (default: config paths.cache); photos go to <dir>/photos')
    .option('--config <file>', 'JSON config file')
    .action(async (opts: { domains?: string; cache?: string; config?: string }) => {
      await fetchPhotosCommand({ domains: opts.domains?.split(',').map((d) => d.trim()).filter(Boolean), cache: opts.cache, config: opts.config });
    });
}
