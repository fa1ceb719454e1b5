/**
 * The worker-thread tests load dist/lib/data/worker.js: build first (`npm run build`).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_AUGMENT } from '../../lib/data/augment';
import { encodeExample, int64Feature } from '../../lib/data/example';
import { decodeRgb, resizeForModel } from '../../lib/data/image';
import { batches, debugSubset, listShards, newPipelineStats, samples, splitShards, type PipelineOptions, type Sample } from '../../lib/data/pipeline';
import { encodeRecord } from '../../lib/data/schema';
import { frameRecord, writeTfRecords } from '../../lib/data/tfrecord';
import { CLIP_MEAN, CLIP_STD } from '../../lib/model/vit-config';
import type { Preprocess } from '../../lib/core/preprocess';
import { jpeg, tmpDir } from './helpers';

const P: Preprocess = { imageSize: 24, mean: CLIP_MEAN, std: CLIP_STD, resize: 'shortest_bicubic_crop' };
const dir = tmpDir('pipeline');
const shard = (i: number) => path.join(dir, `s-${i}.tfrec`);
const images: Record<string, Buffer> = {};

beforeAll(async () => {
  await tf.setBackend('cpu');
  for (let s = 0; s < 3; s++) {
    const recs: Uint8Array[] = [];
    for (let k = 0; k < 4; k++) {
      const id = `s${s}-r${k}`;
      images[id] = await jpeg(30 + 7 * k, 26 + 5 * s, s * 4 + k);
      recs.push(encodeRecord({ image: images[id], label: s * 10 + k, id, source: 'toy' }));
    }
    writeTfRecords(shard(s), recs);
  }
});

async function all(opts: Partial<PipelineOptions>): Promise<Sample[]> {
  const out: Sample[] = [];
  for await (const s of samples({ files: [shard(0), shard(1), shard(2)], preprocess: P, batchSize: 4, workers: 0, ...opts })) out.push(s);
  return out;
}

describe('shard lists', () => {
  test('listShards, 90/10 split by shard and DEBUG subset are seeded and disjoint', () => {
    expect(listShards([dir])).toEqual([shard(0), shard(1), shard(2)]);
    const files = Array.from({ length: 20 }, (_, i) => `/d/f${String(i).padStart(2, '0')}.tfrec`);
    const a = splitShards(files, 0.1, 7);
    expect([a.train.length, a.valid.length]).toEqual([18, 2]);
    expect([...a.train, ...a.valid].sort()).toEqual(files);
    expect(splitShards([...files].reverse(), 0.1, 7)).toEqual(a);
    expect(splitShards(files, 0.1, 8).valid).not.toEqual(a.valid);
    expect(splitShards(['/one.tfrec'], 0.1, 1)).toEqual({ train: ['/one.tfrec'], valid: [] });
    const d = debugSubset(files, 4, 7);
    expect(d.length).toBe(4);
    expect(debugSubset(files, 4, 7)).toEqual(d);
  });
});

describe('samples', () => {
  test('eval mode: file order with interleave, pixels = CLIP eval preprocessing', async () => {
    const got = await all({ cycleLength: 2 });
    // Shards 0 and 1 alternate until 0 ends, then 2 joins in its place.
    expect(got.map((s) => s.id)).toEqual(['s0-r0', 's1-r0', 's0-r1', 's1-r1', 's0-r2', 's1-r2', 's0-r3', 's1-r3', 's2-r0', 's2-r1', 's2-r2', 's2-r3']);
    expect(got.map((s) => s.label).slice(0, 3)).toEqual([0, 10, 1]);
    const want = await resizeForModel(await decodeRgb(images['s1-r2']), P);
    expect(Buffer.from(got[5].pixels).equals(Buffer.from(want.data))).toBe(true);
  });

  test('training mode is deterministic for a seed, and differs across seeds and epochs', async () => {
    const opts = { augment: DEFAULT_AUGMENT, shuffleBuffer: 5, epochs: 2, seed: 3 };
    const a = await all(opts);
    const b = await all(opts);
    expect(a.map((s) => s.id)).toEqual(b.map((s) => s.id));
    a.forEach((s, i) => expect(Buffer.from(s.pixels).equals(Buffer.from(b[i].pixels))).toBe(true));
    expect(a.length).toBe(24);
    expect(a.slice(0, 12).map((s) => s.id)).not.toEqual(a.slice(12).map((s) => s.id));
    expect(new Set(a.slice(0, 12).map((s) => s.id)).size).toBe(12);
    const c = await all({ ...opts, seed: 4 });
    expect(c.map((s) => s.id)).not.toEqual(a.map((s) => s.id));
  });

  test('worker threads give exactly the in-process result', async () => {
    const opts = { augment: DEFAULT_AUGMENT, shuffleBuffer: 4, seed: 11 };
    const inProcess = await all(opts);
    const threaded = await all({ ...opts, workers: 2 });
    expect(threaded.map((s) => s.id)).toEqual(inProcess.map((s) => s.id));
    threaded.forEach((s, i) => expect(Buffer.from(s.pixels).equals(Buffer.from(inProcess[i].pixels))).toBe(true));
    expect(threaded[0].pixels.length).toBe(24 * 24 * 3);
  });

  test('bad records and undecodable images are skipped and reported with their ids', async () => {
    const bad = path.join(dir, 'bad.tfrec');
    const good = encodeRecord({ image: images['s0-r0'], label: 1, id: 'ok-1' });
    const zero = encodeRecord({ image: new Uint8Array(0), label: 2, id: 'zero-byte' });
    const text = encodeRecord({ image: Buffer.from('not an image'), label: 3, id: 'text' });
    const noImage = encodeExample({ 'image/class/label': int64Feature(4) });
    const corrupt = frameRecord(encodeRecord({ image: images['s0-r1'], label: 5, id: 'crc' }));
    corrupt[20] ^= 0xff;
    const tail = encodeRecord({ image: images['s0-r2'], label: 6, id: 'ok-2' });
    fs.writeFileSync(bad, Buffer.concat([good, zero, text, noImage].map(frameRecord).concat([corrupt, frameRecord(tail)])));
    const stats = newPipelineStats();
    const reported: string[] = [];
    const got: Sample[] = [];
    for await (const s of samples({ files: [bad], preprocess: P, batchSize: 2, workers: 2, stats, onBad: (b) => reported.push(b.id) })) got.push(s);
    expect(got.map((s) => s.id)).toEqual(['ok-1', 'ok-2']);
    expect(reported.sort()).toEqual(['bad.tfrec#3', 'bad.tfrec#4', 'text', 'zero-byte']);
    const reason = (id: string) => stats.bad.find((b) => b.id === id)?.reason;
    expect(reason('zero-byte')).toBe('zero-byte: cannot decode image: zero-byte input');
    expect(reason('bad.tfrec#3')).toBe(`${bad} record 3: missing feature "image/encoded"`);
    expect(reason('bad.tfrec#4')).toMatch(/record 4 at byte \d+: data CRC mismatch/);
    expect([stats.samples, stats.bad.length]).toEqual([2, 4]);
  });
});

describe('batches', () => {
  test('NHWC float32 tensors, labels, no batch spans an epoch, remainder kept or dropped', async () => {
    const base = { files: [shard(0), shard(1), shard(2)], preprocess: P, batchSize: 5, workers: 0, epochs: 2, augment: DEFAULT_AUGMENT, shuffleBuffer: 6, seed: 1 };
    const sizes: number[][] = [];
    const labels = new Set<number>();
    for await (const b of batches(base)) {
      expect(b.images.shape.slice(1)).toEqual([24, 24, 3]);
      expect(b.images.dtype).toBe('float32');
      expect(b.labels.dtype).toBe('int32');
      (await b.labels.data()).forEach((l) => labels.add(l));
      sizes.push([b.epoch, b.images.shape[0], b.ids.length]);
      // Normalised with the backbone's mean/std: the first pixel of each image is (x/255 - mean)/std.
      const px = await b.images.data();
      const raw = (await all({ ...base, epochs: b.epoch + 1 })).find((s) => s.id === b.ids[0] && s.epoch === b.epoch) as Sample;
      for (let c = 0; c < 3; c++) expect(px[c]).toBeCloseTo((raw.pixels[c] / 255 - CLIP_MEAN[c]) / CLIP_STD[c], 5);
      tf.dispose([b.images, b.labels]);
    }
    expect(sizes).toEqual([[0, 5, 5], [0, 5, 5], [0, 2, 2], [1, 5, 5], [1, 5, 5], [1, 2, 2]]);
    expect(labels.size).toBe(12);
    const dropped: number[] = [];
    for await (const b of batches({ ...base, dropRemainder: true })) {
      dropped.push(b.images.shape[0]);
      tf.dispose([b.images, b.labels]);
    }
    expect(dropped).toEqual([5, 5, 5, 5]);
  });
});

test('a consumer that stops early closes every shard it opened', async () => {
  const before = fs.readdirSync('/proc/self/fd').length;
  for (let i = 0; i < 5; i++) {
    for await (const s of samples({ files: [shard(0), shard(1), shard(2)], preprocess: P, batchSize: 2, workers: 0, cycleLength: 3 })) {
      expect(s.id).toBe('s0-r0');
      break;
    }
  }
  expect(fs.readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(before);
});
