/**
 * Image sources -> a flat list of (file, class) items, one lister per layout:
 *   folder       root/<class>/<image>
 *   products10k  CSV `name,class,group` + an image folder (Products-10K train.csv)
 *   gldv2        CSV `id,landmark_id` + root/a/b/c/<id>.jpg (Google Landmarks v2 train.csv)
 */
import * as fs from 'fs';
import * as path from 'path';

export type SourceKind = 'folder' | 'products10k' | 'gldv2';

export interface SourceItem {
  /** Absolute image path. */
  file: string;
  className: string;
  /** Stable record id written into the record. */
  id: string;
}

export function listFolderSource(root: string): SourceItem[] {
  if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${root}: not a directory (expected one sub-folder per class)`);
  const items: SourceItem[] = [];
  for (const cls of fs.readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    for (const f of fs.readdirSync(path.join(root, cls), { withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name).sort()) {
      items.push({ file: path.resolve(root, cls, f), className: cls, id: `${cls}/${path.parse(f).name}` });
    }
  }
  return items;
}

/** Minimal CSV reading for these plain files (no quoted fields); checks the header names. */
export function readCsv(file: string, required: string[]): Array<Record<string, string>> {
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (lines.length === 0) throw new Error(`${file}: empty CSV`);
  const header = lines[0].split(',').map((h) => h.trim());
  const missing = required.filter((r) => !header.includes(r));
  if (missing.length > 0) throw new Error(`${file}: CSV header "${lines[0]}" lacks column(s) ${missing.join(', ')}`);
  return lines.slice(1).map((line, i) => {
    const cells = line.split(',');
    if (cells.length !== header.length) throw new Error(`${file}:${i + 2}: expected ${header.length} fields, got ${cells.length}`);
    return Object.fromEntries(header.map((h, k) => [h, cells[k].trim()]));
  });
}

/** Products-10K: `name,class,group` (name = image file under imagesDir). */
export function listProducts10k(csv: string, imagesDir: string): SourceItem[] {
  return readCsv(csv, ['name', 'class']).map((r) => ({ file: path.resolve(imagesDir, r.name), className: r.class, id: path.parse(r.name).name }));
}

/** GLDv2: `id,landmark_id`, images at root/id[0]/id[1]/id[2]/id.jpg. */
export function gldv2Path(root: string, id: string): string {
  return path.resolve(root, id[0], id[1], id[2], `${id}.jpg`);
}

export function listGldv2(csv: string, imagesDir: string): SourceItem[] {
  return readCsv(csv, ['id', 'landmark_id']).map((r) => {
    if (r.id.length < 3) throw new Error(`${csv}: image id "${r.id}" is too short for the a/b/c/id.jpg layout`);
    return { file: gldv2Path(imagesDir, r.id), className: r.landmark_id, id: r.id };
  });
}
