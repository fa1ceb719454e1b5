import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { buildRecords, manifestShards, mergeManifests, readManifest } from '../../lib/data/builders/build';
import { gldv2Path, listFolderSource, listGldv2, listProducts10k } from '../../lib/data/builders/sources';
import { decodeRecord } from '../../lib/data/schema';
import { readTfRecords } from '../../lib/data/tfrecord';
import { jpeg, png, tmpDir } from './helpers';

async function readShardRecords(files: string[]) {
  const out = [];
  for (const f of files) for await (const r of readTfRecords(f)) out.push(decodeRecord(r));
  return out;
}

describe('folder builder', () => {
  const root = tmpDir('folder-src');
  const out = path.join(tmpDir('folder-out'), 'records');
  beforeAll(async () => {
    const put = (p: string, b: Buffer | string) => {
      fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      fs.writeFileSync(path.join(root, p), b);
    };
    for (let i = 0; i < 4; i++) put(`cat/${i}.jpg`, await jpeg(40 + i, 30, i));
    put('dog/0.png', await sharp({ create: { width: 20, height: 20, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.3 } } }).png().toBuffer());
    put('dog/1.jpg', await sharp(await png(30, 30, 1)).toColourspace('cmyk').jpeg().toBuffer());
    put('dog/notes.txt', 'not an image');
    put('dog/empty.jpg', '');
    // a 195-byte SVG that would take minutes to render: refused at the check, never written into a shard
    put('dog/bomb.svg', '<svg xmlns="http://www.w3.org/2000/svg" width="6000" height="6000"><filter id="f"><feGaussianBlur stdDeviation="400"/></filter><rect width="6000" height="6000" fill="red" filter="url(#f)"/></svg>');
    put('eel/0.jpg', await jpeg(20, 20, 9));
    // a JPEG cut short: its header reads fine, its pixel data ends early (once written into a shard as is)
    const whole = await jpeg(300, 200, 5);
    put('dog/cut.jpg', whole.subarray(0, Math.floor(whole.length * 0.6)));
  });

  test('labels from offset, cap, minimum, skipped files named with reasons, shards + manifest', async () => {
    const items = listFolderSource(root);
    expect(items.map((i) => i.id)).toEqual(['cat/0', 'cat/1', 'cat/2', 'cat/3', 'dog/0', 'dog/1', 'dog/bomb', 'dog/cut', 'dog/empty', 'dog/notes', 'eel/0']);
    const m = await buildRecords(items, { outDir: out, source: 'toy', kind: 'folder', root, labelOffset: 1000, shardSize: 2, maxPerClass: 3, minPerClass: 2, progressMode: 'silent' });
    const src = m.sources[0];
    expect(src.classes).toEqual([
      { label: 1000, name: 'cat', count: 3 },
      { label: 1001, name: 'dog', count: 2 },
    ]);
    expect(src.labelRange).toEqual([1000, 1001]);
    expect([src.numImages, src.numClasses, src.droppedClasses]).toEqual([5, 2, 1]);
    expect(src.skipped.map((s) => [path.relative(root, s.file), s.reason.split(' (')[0]])).toEqual([
      ['dog/bomb.svg', 'an SVG'],
      ['dog/cut.jpg', 'truncated or corrupt image data'],
      ['dog/empty.jpg', 'zero-byte file'],
      ['dog/notes.txt', 'not a readable image'],
    ]);
    expect(m.shards.map((s) => [s.file, s.records])).toEqual([
      ['toy-00000-of-00003.tfrec', 2],
      ['toy-00001-of-00003.tfrec', 2],
      ['toy-00002-of-00003.tfrec', 1],
    ]);
    expect(readManifest(out)).toEqual(m);
    const recs = await readShardRecords(manifestShards(out));
    expect(recs.length).toBe(5);
    for (const r of recs) {
      const [cls, name] = (r.id as string).split('/');
      expect(r.label).toBe(cls === 'cat' ? 1000 : 1001);
      expect(r.source).toBe('toy');
      const file = fs.readdirSync(path.join(root, cls)).find((f) => path.parse(f).name === name) as string;
      expect(Buffer.from(r.image).equals(fs.readFileSync(path.join(root, cls, file)))).toBe(true);
    }
    expect(new Set(recs.filter((r) => r.label === 1000).map((r) => r.id)).size).toBe(3);
  });

  test('rerun resumes: complete shards are kept, a damaged one is rewritten', async () => {
    const shards = manifestShards(out);
    const before = shards.map((f) => fs.statSync(f).mtimeMs);
    fs.writeFileSync(shards[1], 'garbage');
    const opts = { outDir: out, source: 'toy', kind: 'folder' as const, root, labelOffset: 1000, shardSize: 2, maxPerClass: 3, minPerClass: 2, progressMode: 'silent' as const };
    const m = await buildRecords(listFolderSource(root), opts);
    const after = shards.map((f) => fs.statSync(f).mtimeMs);
    expect(after[0]).toBe(before[0]);
    expect(after[2]).toBe(before[2]);
    expect((await readShardRecords([shards[1]])).length).toBe(2);
    expect(m.shards[1].records).toBe(2);
    expect(fs.readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('CSV sources', () => {
  test('Products-10K name,class,group and GLDv2 id,landmark_id with a/b/c/id.jpg', async () => {
    const root = tmpDir('csv-src');
    fs.mkdirSync(path.join(root, 'p10k'));
    fs.writeFileSync(path.join(root, 'train.csv'), 'name,class,group\n0.jpg,10,1\n1.jpg,2,1\n2.jpg,10,3\n');
    for (const n of ['0', '1', '2']) fs.writeFileSync(path.join(root, 'p10k', `${n}.jpg`), await jpeg(16, 16, Number(n)));
    const p = listProducts10k(path.join(root, 'train.csv'), path.join(root, 'p10k'));
    const mp = await buildRecords(p, { outDir: path.join(root, 'out-p'), source: 'products10k', kind: 'products10k', root, labelOffset: 1000, progressMode: 'silent' });
    // Numeric class ids sort numerically: "2" before "10".
    expect(mp.sources[0].classes).toEqual([
      { label: 1000, name: '2', count: 1 },
      { label: 1001, name: '10', count: 2 },
    ]);

    const ids = ['abc0123456789def', 'abd0000000000000', 'f00fffffffffffff'];
    fs.writeFileSync(path.join(root, 'gld.csv'), `id,landmark_id\n${ids[0]},7\n${ids[1]},7\n${ids[2]},3\n`);
    for (const id of ids) {
      fs.mkdirSync(path.dirname(gldv2Path(path.join(root, 'gld'), id)), { recursive: true });
      fs.writeFileSync(gldv2Path(path.join(root, 'gld'), id), await jpeg(16, 16));
    }
    expect(gldv2Path('/r', ids[0])).toBe('/r/a/b/c/abc0123456789def.jpg');
    const g = listGldv2(path.join(root, 'gld.csv'), path.join(root, 'gld'));
    const mg = await buildRecords(g, { outDir: path.join(root, 'out-g'), source: 'gldv2', kind: 'gldv2', root, labelOffset: 1002, progressMode: 'silent' });
    expect(mg.sources[0].classes.map((c) => [c.label, c.name, c.count])).toEqual([
      [1002, '3', 1],
      [1003, '7', 2],
    ]);
    // maxClasses keeps the largest classes, labels still in name order.
    const top = await buildRecords(g, { outDir: path.join(root, 'out-top'), source: 'gldv2', kind: 'gldv2', root, labelOffset: 50, maxClasses: 1, progressMode: 'silent' });
    expect(top.sources[0].classes).toEqual([{ label: 50, name: '7', count: 2 }]);
    expect(top.sources[0].droppedClasses).toBe(1);
    const merged = mergeManifests([mg, mp]);
    expect(merged.sources.map((s) => s.name)).toEqual(['products10k', 'gldv2']);
    expect(() => mergeManifests([mp, mp])).toThrow('label ranges overlap: products10k [1000-1001] and products10k [1000-1001]');
    fs.writeFileSync(path.join(root, 'bad.csv'), 'image,label\nx,1\n');
    expect(() => listGldv2(path.join(root, 'bad.csv'), root)).toThrow(`${path.join(root, 'bad.csv')}: CSV header "image,label" lacks column(s) id, landmark_id`);
  });
});
