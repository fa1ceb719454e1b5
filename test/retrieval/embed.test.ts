/** Streaming embedding: folder and TFRecord sources, batching, resume after an interruption. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { bytesFeature, encodeExample } from '../../lib/data/example';
import { writeTfRecords } from '../../lib/data/tfrecord';
import type { RgbImage } from '../../lib/core/rgb-image';
import { ColourHistogramEmbedder, colourHistogram } from '../../lib/retrieval/colour-histogram';
import { embedToDir, folderSource, readEmbeddings, tfrecordSource, writeEmbeddings } from '../../lib/retrieval/embed';

const N = 23;
let root: string;
let imgDir: string;
const pngs: Buffer[] = [];

/** Image i: two colour blocks whose split and colours depend on i. */
function synthetic(i: number): RgbImage {
  const width = 16 + (i % 5);
  const height = 12 + (i % 3);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const left = x < (i % width) + 1;
      const o = (y * width + x) * 3;
      data[o] = left ? (i * 37) % 256 : 255 - ((i * 11) % 256);
      data[o + 1] = left ? (i * 91) % 256 : (i * 53) % 256;
      data[o + 2] = left ? 200 : (i * 17) % 256;
    }
  return { data, width, height };
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-embed-'));
  imgDir = path.join(root, 'images');
  for (let i = 0; i < N; i++) {
    const img = synthetic(i);
    const png = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
    pngs.push(png);
    const sub = path.join(imgDir, `class${i % 3}`);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `img${String(i).padStart(2, '0')}.png`), png);
  }
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Fails on batch `failAt` (1-based), like a process killed mid-run. */
class FailingEmbedder extends ColourHistogramEmbedder {
  private batches = 0;
  constructor(private readonly failAt: number) {
    super();
  }
  override async embed(images: RgbImage[]): Promise<Float32Array> {
    if (++this.batches === this.failAt) throw new Error('interrupted');
    return super.embed(images);
  }
}

const files = (dir: string) => ({ v: fs.readFileSync(path.join(dir, 'vectors.f32')), ids: fs.readFileSync(path.join(dir, 'ids.txt'), 'utf8') });

test('folder source: ids in path order, vectors equal the embedder on the decoded pixels', async () => {
  const out = path.join(root, 'full');
  const state = await embedToDir(folderSource(imgDir), new ColourHistogramEmbedder(), out, { batchSize: 4, progress: 'silent' });
  expect(state).toMatchObject({ done: N, complete: true, dim: 64 });
  const emb = readEmbeddings(out);
  expect(emb.ids[0]).toBe('class0/img00.png');
  expect(emb.ids).toEqual([...emb.ids].sort());
  expect(emb.ids).toHaveLength(N);
  for (const [row, id] of emb.ids.entries()) {
    const i = Number(id.slice(-6, -4));
    const expected = colourHistogram(synthetic(i)); // PNG is lossless: same pixels
    expect(Array.from(emb.vectors.subarray(row * 64, (row + 1) * 64))).toEqual(Array.from(expected));
  }
  // image 0: every pixel in the left block is (0,0,200) on the first column only, the rest (255,0,0)
  const v0 = emb.vectors.subarray(0, 64);
  const img0 = synthetic(0);
  const leftShare = img0.height / (img0.width * img0.height);
  expect(v0[(0 * 4 + 0) * 4 + 3]).toBeCloseTo(Math.sqrt(leftShare), 6);
  expect(v0[(3 * 4 + 0) * 4 + 0]).toBeCloseTo(Math.sqrt(1 - leftShare), 6);
});

test('resume after an interruption gives the same files as an uninterrupted run, torn tail included', async () => {
  const full = path.join(root, 'full-ref');
  await embedToDir(folderSource(imgDir), new ColourHistogramEmbedder(), full, { batchSize: 5, progress: 'silent' });
  const out = path.join(root, 'resumed');
  await expect(embedToDir(folderSource(imgDir), new FailingEmbedder(4), out, { batchSize: 5, progress: 'silent' })).rejects.toThrow('interrupted');
  const state = JSON.parse(fs.readFileSync(path.join(out, 'state.json'), 'utf8'));
  expect(state).toMatchObject({ done: 15, complete: false });
  expect(() => readEmbeddings(out)).toThrow(/incomplete/);
  // A kill between appending and committing leaves extra bytes: they must be cut away.
  fs.appendFileSync(path.join(out, 'vectors.f32'), Buffer.alloc(100, 7));
  fs.appendFileSync(path.join(out, 'ids.txt'), 'class9/half-writ');
  const batches: number[] = [];
  await embedToDir(folderSource(imgDir), new ColourHistogramEmbedder(), out, { batchSize: 5, progress: 'silent', onBatch: (d) => batches.push(d) });
  expect(batches).toEqual([20, 23]); // only the missing rows were embedded
  expect(files(out)).toEqual(files(full));
});

test('a resume with another model or a changed source is refused', async () => {
  const out = path.join(root, 'mismatch');
  await expect(embedToDir(folderSource(imgDir), new FailingEmbedder(2), out, { batchSize: 5, progress: 'silent' })).rejects.toThrow('interrupted');
  class Other extends ColourHistogramEmbedder {
    override readonly name = 'other-model';
  }
  await expect(embedToDir(folderSource(imgDir), new Other(), out, { progress: 'silent' })).rejects.toThrow(/colour-histogram-4.*other-model/);
  // same embedder class (one engine name) but other model bytes: the model id decides, even for a finished run
  const done = path.join(root, 'finished');
  await embedToDir(folderSource(imgDir), new ColourHistogramEmbedder(), done, { progress: 'silent', modelId: 'onnxruntime:aaaa' });
  await expect(embedToDir(folderSource(imgDir), new ColourHistogramEmbedder(), done, { progress: 'silent', modelId: 'onnxruntime:bbbb' })).rejects.toThrow(/holds a run of model "onnxruntime:aaaa".*this run is "onnxruntime:bbbb".*--restart overwrites it/);
  fs.renameSync(path.join(imgDir, 'class0', 'img00.png'), path.join(imgDir, 'class0', 'img00b.png'));
  try {
    await expect(embedToDir(folderSource(imgDir), new ColourHistogramEmbedder(), out, { batchSize: 5, progress: 'silent' })).rejects.toThrow(/source changed/);
  } finally {
    fs.renameSync(path.join(imgDir, 'class0', 'img00b.png'), path.join(imgDir, 'class0', 'img00.png'));
  }
});

test('TFRecord source: same vectors as the folder, ids from a feature; bad images name the record', async () => {
  const shard = path.join(root, 'shard-00000.tfrecord');
  writeTfRecords(shard, pngs.map((png, i) => encodeExample({ image: bytesFeature(png), id: bytesFeature(`img${i}`) })));
  const out = path.join(root, 'tfr');
  await embedToDir(tfrecordSource([shard], { imageKey: 'image', idKey: 'id' }), new ColourHistogramEmbedder(), out, { batchSize: 8, progress: 'silent' });
  const emb = readEmbeddings(out);
  expect(emb.ids.slice(0, 3)).toEqual(['img0', 'img1', 'img2']);
  const byFolder = readEmbeddings(path.join(root, 'full'));
  const row = byFolder.ids.indexOf('class1/img07.png');
  expect(Array.from(emb.vectors.subarray(7 * 64, 8 * 64))).toEqual(Array.from(byFolder.vectors.subarray(row * 64, (row + 1) * 64)));

  const bad = path.join(root, 'bad.tfrecord');
  writeTfRecords(bad, [encodeExample({ image: bytesFeature(pngs[0]) }), encodeExample({ image: bytesFeature('not an image') })]);
  // skipped by default, named in state.json; --strict fails on it, naming the record
  const skipped = await embedToDir(tfrecordSource([bad], { imageKey: 'image' }), new ColourHistogramEmbedder(), path.join(root, 'bad'), { progress: 'silent' });
  expect([skipped.done, skipped.skipped?.length]).toEqual([1, 1]);
  expect(skipped.skipped![0].reason).toMatch(/bad\.tfrecord: record 1: cannot decode image/);
  expect(readEmbeddings(path.join(root, 'bad')).ids).toHaveLength(1);
  await expect(embedToDir(tfrecordSource([bad], { imageKey: 'image' }), new ColourHistogramEmbedder(), path.join(root, 'bad-strict'), { progress: 'silent', strict: true })).rejects.toThrow(
    /bad\.tfrecord: record 1: cannot decode image.*--strict/,
  );
  // the project's own schema (image/encoded, image/id) is the default
  const own = path.join(root, 'own.tfrecord');
  writeTfRecords(own, pngs.slice(0, 2).map((png, i) => encodeExample({ 'image/encoded': bytesFeature(png), 'image/id': bytesFeature(`own${i}`) })));
  await embedToDir(tfrecordSource([own]), new ColourHistogramEmbedder(), path.join(root, 'own'), { progress: 'silent' });
  expect(readEmbeddings(path.join(root, 'own')).ids).toEqual(['own0', 'own1']);
});

test('writeEmbeddings/readEmbeddings round-trip and reject a length mismatch', () => {
  const dir = path.join(root, 'ext');
  const vectors = Float32Array.from({ length: 3 * 4 }, (_, i) => i / 7);
  writeEmbeddings(dir, { ids: ['a', 'b', 'c'], vectors, dim: 4 });
  const back = readEmbeddings(dir);
  expect(back.ids).toEqual(['a', 'b', 'c']);
  expect(Array.from(back.vectors)).toEqual(Array.from(vectors));
  fs.truncateSync(path.join(dir, 'vectors.f32'), 40);
  expect(() => readEmbeddings(dir)).toThrow(/vectors\.f32: 40 bytes, expected 48/);
});

test('a skipped image before an interruption: the resumed run neither retries it nor mistakes the shift for a changed source', async () => {
  const dir = path.join(root, 'with-bad');
  fs.cpSync(imgDir, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'class0', 'img00a.png'), 'not a png'); // sorts right after class0/img00.png
  const full = path.join(root, 'with-bad-full');
  const ref = await embedToDir(folderSource(dir), new ColourHistogramEmbedder(), full, { batchSize: 5, progress: 'silent' });
  expect(ref.skipped!.map((k) => k.id)).toEqual(['class0/img00a.png']);
  const out = path.join(root, 'with-bad-resumed');
  await expect(embedToDir(folderSource(dir), new FailingEmbedder(3), out, { batchSize: 5, progress: 'silent' })).rejects.toThrow('interrupted');
  const done = await embedToDir(folderSource(dir), new ColourHistogramEmbedder(), out, { batchSize: 5, progress: 'silent' });
  expect(done.skipped!.map((k) => k.id)).toEqual(['class0/img00a.png']);
  expect(files(out)).toEqual(files(full));
});
