/**
 * Records as the training loop's Dataset of images, for backbone stages: random access by row
 * (record spans indexed once), decoding and augmentation on the pipeline's worker threads,
 * normalised NHWC float batches. The augmentation of row r in epoch e draws from seed (seed, e, r),
 * so a resumed run sees exactly the pixels the uninterrupted one saw.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { mixSeed, type AugmentConfig } from '../data/augment';
import type { DataSet } from '../data/dataset';
import { DEFAULT_MAX_PIXELS, normalizeRgb } from '../data/image';
import { WorkerPool } from '../data/worker-pool';
import { decodeRecord } from '../data/schema';
import { indexTfRecords, readTfRecordAt, type RecordSpan } from '../data/tfrecord';
import type { Preprocess } from '../core/preprocess';
import type { Dataset } from './train-config';

export interface ImageDatasetOptions {
  data: DataSet;
  /** Row numbers into data.rows, in dataset order. */
  rows: readonly number[];
  labels: Int32Array;
  preprocess: Preprocess;
  /** null = evaluation preprocessing (validation). */
  augment: AugmentConfig | null;
  seed: number;
  /** Worker threads for decoding + augmentation. */
  workers?: number;
}

export interface ImageDataset extends Dataset {
  close(): Promise<void>;
}

export function imageDataset(o: ImageDatasetOptions): ImageDataset {
  const spans: RecordSpan[][] = o.data.files.map((f) => indexTfRecords(f));
  // every record of a file is a row or one that skipBad left out
  for (const [fi, file] of o.data.files.entries()) {
    const n = o.data.rows.filter((r) => r.file === fi).length + o.data.skipped.filter((b) => b.file === file).length;
    if (spans[fi].length !== n) throw new Error(`${file}: ${spans[fi].length} records on disk but ${n} in the data set (changed since it was read?)`);
  }
  const fds = o.data.files.map((f) => fs.openSync(f, 'r'));
  const pool = new WorkerPool(Math.max(1, o.workers ?? 2), { preprocess: o.preprocess, augment: o.augment, maxPixels: DEFAULT_MAX_PIXELS });
  const size = o.preprocess.imageSize;
  const per = size * size * 3;
  let seq = 0;
  const imageOf = (row: number): { bytes: Uint8Array; name: string } => {
    const r = o.data.rows[row];
    const k = r.record;
    const file = o.data.files[r.file];
    const rec = decodeRecord(readTfRecordAt(fds[r.file], file, k, spans[r.file][k]), o.data.schema, `${file} record ${k}`);
    return { bytes: rec.image, name: `${file} record ${k} (${r.id})` };
  };
  return {
    size: o.rows.length,
    labels: o.labels,
    evalBatch: 32,
    async rows(indices, at) {
      const epoch = at?.epoch ?? 0;
      const results = await Promise.all(
        Array.from(indices, (i) => {
          const { bytes, name } = imageOf(o.rows[i]);
          return pool.run({ seq: seq++, bytes, name, seed: mixSeed(o.seed, 0x1a9e, epoch, o.rows[i]) }).then((r) => {
            if ('error' in r) throw new Error(`${name}: ${r.error}`);
            return r.data;
          });
        }),
      );
      const buf = new Float32Array(indices.length * per);
      results.forEach((px, j) => normalizeRgb({ data: px, width: size, height: size }, o.preprocess, buf, j * per));
      return tf.tensor4d(buf, [indices.length, size, size, 3]);
    },
    async close() {
      await pool.close();
      for (const fd of fds) fs.closeSync(fd);
    },
  };
}
