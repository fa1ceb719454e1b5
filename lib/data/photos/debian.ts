/**
 * Photo collections from Debian packages, fetched into the photo cache: `apt-get download` (no root needed)
 * into a temporary folder beside the cache, `dpkg -x`, the chosen images copied out (from plain folders or
 * Qt resource archives) as `<cache>/<package>_<version>/<domain>/<selection>/<file>`, with the package's
 * debian/copyright and, last, `done.json`; then one rename makes it visible. The .deb and the extracted
 * package are deleted. A failed fetch leaves nothing in the cache and comes back as a reason, never thrown.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { writeJsonAtomic } from '../../util/atomic';
import { readRcc } from './qt-rcc';

/** Images of one folder of a package (not its sub-folders), or of one folder inside a Qt resource archive of it. */
export interface DebianSelection {
  /** Cache sub-folder the images go to (part of every instance's name). */
  name: string;
  /** A Qt resource archive (`.rcc`), relative to the package root; the folder is then inside it. */
  rcc?: string;
  /** Folder relative to the package root (or the archive's root). */
  folder: string;
  /** Only the files whose name matches (default: every .jpg, .jpeg, .png and .webp). */
  match?: RegExp;
}

/** What a package gives: its domains and where each one's images lie. */
export interface DebianPhotos {
  domain: string;
  select: readonly DebianSelection[];
}

/** `done.json`: written last, so a folder that has it is complete. */
export interface FetchedMarker {
  package: string;
  version: string;
  /** ISO time of the fetch. */
  fetched: string;
  /** Size of the downloaded .deb. */
  debBytes: number;
  /** The package's debian/copyright, copied beside the photos. */
  license: string;
  /** Per domain: its folders (relative to the package's cache folder) and how many images they hold. */
  domains: Record<string, { folders: string[]; files: number }>;
}

export type FetchResult =
  | { ok: true; package: string; version: string; dir: string; cached: boolean; bytes: number; seconds: number; files: Record<string, number> }
  | { ok: false; package: string; reason: string };

const MARKER = 'done.json';
const LICENSE_FILE = 'copyright';
const RASTER = /\.(jpe?g|png|webp)$/i;

/** The complete cache folder of this package (the latest fetched, if several versions are there), or null. */
export function fetchedPackage(photoCache: string, pkg: string): { dir: string; done: FetchedMarker } | null {
  if (!fs.existsSync(photoCache)) return null;
  let best: { dir: string; done: FetchedMarker } | null = null;
  for (const name of fs.readdirSync(photoCache).filter((n) => n.startsWith(`${pkg}_`))) {
    const dir = path.join(photoCache, name);
    let done: FetchedMarker;
    try {
      done = JSON.parse(fs.readFileSync(path.join(dir, MARKER), 'utf8')) as FetchedMarker;
    } catch {
      continue; // no marker: not complete, never read
    }
    if (done.package === pkg && (!best || done.fetched > best.done.fetched)) best = { dir, done };
  }
  return best;
}

/** Runs a tool; its failure as one line (the tool's last error line), or null when it succeeded. */
function run(cmd: string, args: string[], cwd: string): string | null {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 600_000 });
  if (r.error) return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? `${cmd} is not available (not a Debian system?)` : `${cmd}: ${r.error.message}`;
  if (r.status === 0) return null;
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('W:'));
  return `${cmd} ${args.join(' ')} failed (exit ${r.status}): ${lines.find((l) => l.startsWith('E:')) ?? lines.at(-1) ?? 'no message'}`;
}

/** The selection's images as [file name, bytes], read from the extracted package. */
function selectImages(root: string, s: DebianSelection, archives: Map<string, ReturnType<typeof readRcc>>): Array<[string, Buffer]> {
  const wanted = (name: string) => RASTER.test(name) && (!s.match || s.match.test(name));
  if (!s.rcc) {
    const dir = path.join(root, s.folder);
    if (!fs.existsSync(dir)) throw new Error(`${s.folder} is not in the package`);
    return fs.readdirSync(dir).filter(wanted).sort().map((n): [string, Buffer] => [n, fs.readFileSync(path.join(dir, n))]);
  }
  let entries = archives.get(s.rcc);
  if (!entries) {
    const file = path.join(root, s.rcc);
    if (!fs.existsSync(file)) throw new Error(`${s.rcc} is not in the package`);
    archives.set(s.rcc, (entries = readRcc(fs.readFileSync(file), file)));
  }
  return entries
    .filter((e) => path.posix.dirname(e.path) === s.folder && wanted(path.posix.basename(e.path)))
    .map((e): [string, Buffer] => [path.posix.basename(e.path), e.data])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Fetches `pkg` and keeps the images of `collections` (the registry's entries of that package) in
 * `<photoCache>/<pkg>_<version>/`; a package already there is not fetched again.
 */
export function fetchDebianPackage(pkg: string, collections: readonly DebianPhotos[], photoCache: string): FetchResult {
  const t0 = Date.now();
  const seconds = () => (Date.now() - t0) / 1000;
  const have = fetchedPackage(photoCache, pkg);
  if (have && collections.every((c) => have.done.domains[c.domain])) {
    return { ok: true, package: pkg, version: have.done.version, dir: have.dir, cached: true, bytes: have.done.debBytes, seconds: seconds(), files: Object.fromEntries(collections.map((c) => [c.domain, have.done.domains[c.domain].files])) };
  }
  fs.mkdirSync(photoCache, { recursive: true });
  // beside the cache (same file system, so the final rename is atomic); the leading dot keeps it out of fetchedPackage
  const work = fs.mkdtempSync(path.join(photoCache, `.fetch-${pkg}-`));
  try {
    const [debDir, root, out] = ['deb', 'root', 'out'].map((d) => path.join(work, d));
    for (const d of [debDir, root, out]) fs.mkdirSync(d);
    const failed = run('apt-get', ['download', '-o', 'Acquire::Retries=0', '-o', 'Acquire::http::Timeout=30', pkg], debDir);
    if (failed) return { ok: false, package: pkg, reason: failed };
    const deb = fs.readdirSync(debDir).find((f) => f.endsWith('.deb'));
    if (!deb) return { ok: false, package: pkg, reason: `apt-get download ${pkg} left no .deb file` };
    const debFile = path.join(debDir, deb);
    const info = spawnSync('dpkg-deb', ['-f', debFile, 'Version'], { encoding: 'utf8' });
    const version = info.status === 0 ? info.stdout.trim() : '';
    if (!version) return { ok: false, package: pkg, reason: `dpkg-deb -f ${deb} Version failed: ${info.error?.message ?? info.stderr.trim()}` };
    const unpacked = run('dpkg', ['-x', debFile, root], work);
    if (unpacked) return { ok: false, package: pkg, reason: unpacked };

    const archives = new Map<string, ReturnType<typeof readRcc>>();
    const domains: FetchedMarker['domains'] = {};
    for (const c of collections) {
      const folders: string[] = [];
      let files = 0;
      for (const s of c.select) {
        let images: Array<[string, Buffer]>;
        try {
          images = selectImages(root, s, archives);
        } catch (e) {
          return { ok: false, package: pkg, reason: `${pkg} ${version}, ${c.domain}/${s.name}: ${(e as Error).message}` };
        }
        const rel = path.join(c.domain, s.name);
        fs.mkdirSync(path.join(out, rel), { recursive: true });
        for (const [name, data] of images) fs.writeFileSync(path.join(out, rel, name), data);
        folders.push(rel);
        files += images.length;
      }
      if (files === 0) return { ok: false, package: pkg, reason: `${pkg} ${version}: no image found for ${c.domain} (has the package's layout changed?)` };
      domains[c.domain] = { folders, files };
    }
    const copyright = path.join(root, 'usr/share/doc', pkg, 'copyright');
    if (!fs.existsSync(copyright)) return { ok: false, package: pkg, reason: `${pkg} ${version} has no usr/share/doc/${pkg}/copyright: its licence is unknown, so its photos are not used` };
    fs.copyFileSync(copyright, path.join(out, LICENSE_FILE));
    const debBytes = fs.statSync(debFile).size;
    writeJsonAtomic(path.join(out, MARKER), { package: pkg, version, fetched: new Date().toISOString(), debBytes, license: LICENSE_FILE, domains } satisfies FetchedMarker);

    const dir = path.join(photoCache, `${pkg}_${version.replace(/:/g, '%3a')}`);
    fs.rmSync(dir, { recursive: true, force: true }); // an incomplete leftover of the same version
    fs.renameSync(out, dir);
    return { ok: true, package: pkg, version, dir, cached: false, bytes: debBytes, seconds: seconds(), files: Object.fromEntries(Object.entries(domains).map(([d, v]) => [d, v.files])) };
  } catch (e) {
    return { ok: false, package: pkg, reason: `${pkg}: ${(e as Error).message}` };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
