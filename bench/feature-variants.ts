/**
 * Which offline features are stronger on the default sample, measured training-free (whitened PCA-64
 * fitted on the training rows, the baseline a trained head starts from): MobileNetV2 with its average
 * pooling (the default), GeM (p = 3) pooling of the same 7x7 map, two scales (the whole image and its centre 71%, averaged;
 * the packaged graph takes 224 px only),
 * InceptionV3-mixed5, and both backbones concatenated. Per variant: held-out mP@5 (all domains seen) and
 * leave-one-domain-out (the whitening fitted without domain D, scored on D's queries), per domain.
 *   node dist/bench/feature-variants.js [sampleDir]
 * Last line: `ratio <best variant's LODO mean / the default's>`.
 */
import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { defaultSampleDir, readSampleManifest } from '../lib/data/builders/sample';
import { cropRgb, decodeRgb, normalizeRgb, resizeForModel } from '../lib/data/image';
import type { RgbImage } from '../lib/core/rgb-image';
import { decodeRecord } from '../lib/data/schema';
import { readTfRecords } from '../lib/data/tfrecord';
import { initBackend } from '../lib/device';
import { loadBackbone, type Backbone } from '../lib/model/backbones';
import type { Preprocess } from '../lib/core/preprocess';
import type { Embeddings } from '../lib/retrieval/embed';
import { scoreEmbeddings } from '../lib/retrieval/evaluate';
import { applyPca, fitPca } from '../lib/retrieval/pca';
import { readSolutionCsv } from '../lib/retrieval/solution';
import { l2Normalize } from '../lib/retrieval/vector-index';

interface Row {
  id: string;
  label: number;
  domain: string;
  image: Uint8Array;
}

async function rowsOf(dir: string, split: 'train' | 'query' | 'index'): Promise<Row[]> {
  const m = readSampleManifest(dir);
  const out: Row[] = [];
  for (const s of m.splits[split].shards) {
    for await (const b of readTfRecords(path.join(dir, s.file))) {
      const r = decodeRecord(b, m.schema);
      out.push({ id: r.id ?? '', label: r.label, domain: r.source ?? '', image: r.image });
    }
  }
  return out;
}

/** The node a packaged CNN pools: MobileNetV2's last 1x1 conv, InceptionV3's mixed5. */
const MAP_NODE: Record<string, string> = {
  mobilenet_v2_140: 'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2/Conv_1/Relu6',
  inception_v3_mixed5: 'mixed5/concat',
};

type Pool = (map: tf.Tensor4D) => tf.Tensor2D;
const avg: Pool = (m) => m.mean([1, 2]) as tf.Tensor2D;
const gem = (p: number): Pool => (m) => m.maximum(1e-6).pow(p).mean([1, 2]).pow(1 / p) as tf.Tensor2D;

/** Pooled feature maps of `rows` (the backbone's own size and normalisation), of the centre `crop` fraction of each image. */
async function pooled(b: Backbone, rows: Row[], crop: number, pools: Pool[]): Promise<Float32Array[]> {
  const pp: Preprocess = b.preprocess;
  const size = pp.imageSize;
  const centre = (img: RgbImage): RgbImage => {
    if (crop === 1) return img;
    const [w, h] = [Math.round(img.width * crop), Math.round(img.height * crop)];
    return cropRgb(img, { left: Math.floor((img.width - w) / 2), top: Math.floor((img.height - h) / 2), width: w, height: h });
  };
  const node = MAP_NODE[b.name];
  const outs: number[][] = pools.map(() => []);
  const batch = 32;
  const t0 = Date.now();
  for (let s = 0; s < rows.length; s += batch) {
    const part = rows.slice(s, s + batch);
    const px = new Float32Array(part.length * size * size * 3);
    for (const [i, r] of part.entries()) normalizeRgb(await resizeForModel(centre(await decodeRgb(r.image)), pp), pp, px, i * size * size * 3);
    const x = tf.tensor4d(px, [part.length, size, size, 3]);
    const map = b.cnn!.model.execute(x, node) as tf.Tensor4D;
    pools.forEach((p, k) => {
      const y = tf.tidy(() => p(map));
      outs[k].push(...y.dataSync());
      y.dispose();
    });
    tf.dispose([x, map]);
    if ((s / batch) % 20 === 0) process.stderr.write(`${b.name} crop ${crop} ${s + part.length}/${rows.length} ${((Date.now() - t0) / 1000).toFixed(0)}s\n`);
  }
  return outs.map((o) => Float32Array.from(o));
}

const concatRows = (a: Float32Array, da: number, b: Float32Array, db: number) => {
  const n = a.length / da;
  const out = new Float32Array(n * (da + db));
  for (let i = 0; i < n; i++) {
    out.set(a.subarray(i * da, (i + 1) * da), i * (da + db));
    out.set(b.subarray(i * db, (i + 1) * db), i * (da + db) + da);
  }
  return out;
};
const meanRows = (a: Float32Array, b: Float32Array) => a.map((v, i) => (v + b[i]) / 2);

interface Variant {
  name: string;
  dim: number;
  /** train, query, index features, rows in that order. */
  f: [Float32Array, Float32Array, Float32Array];
}

async function main(): Promise<void> {
  await initBackend();
  const dir = process.argv[2] ?? defaultSampleDir();
  const [train, query, index] = await Promise.all([rowsOf(dir, 'train'), rowsOf(dir, 'query'), rowsOf(dir, 'index')]);
  const solution = readSolutionCsv(path.join(dir, 'solution.csv'));
  console.log(`sample ${dir}: ${train.length} train, ${query.length} queries, ${index.length} index rows`);
  const splits = [train, query, index];

  const mnv2 = await loadBackbone('mobilenet_v2_140');
  const m224 = await Promise.all(splits.map((r) => pooled(mnv2, r, 1, [avg, gem(3)])));
  const mCrop = await Promise.all(splits.map((r) => pooled(mnv2, r, Math.SQRT1_2, [avg])));
  mnv2.dispose();
  const inc = await loadBackbone('inception_v3_mixed5');
  const i299 = await Promise.all(splits.map((r) => pooled(inc, r, 1, [avg])));
  inc.dispose();

  const per = <T>(f: (k: number) => T): [T, T, T] => [f(0), f(1), f(2)];
  const variants: Variant[] = [
    { name: 'mobilenet_v2 avg 224 (default)', dim: 1792, f: per((k) => m224[k][0]) },
    { name: 'mobilenet_v2 GeM p=3 224', dim: 1792, f: per((k) => m224[k][1]) },
    { name: 'mobilenet_v2 avg, full + centre 71%', dim: 1792, f: per((k) => meanRows(l2Normalize(m224[k][0], 1792), l2Normalize(mCrop[k][0], 1792))) },
    { name: 'inception_v3_mixed5 avg 299', dim: 768, f: per((k) => i299[k][0]) },
    { name: 'concat mobilenet_v2 + inception_v3', dim: 2560, f: per((k) => concatRows(l2Normalize(m224[k][0], 1792), 1792, l2Normalize(i299[k][0], 768), 768)) },
  ];

  const emb = (rows: Row[], v: Float32Array, d: number): Embeddings => ({ ids: rows.map((r) => r.id), dim: d, vectors: v });
  const domains = [...new Set(query.map((r) => r.domain))].sort();
  const results: Array<{ name: string; heldOut: number; raw: number; lodo: Record<string, number>; lodoMean: number }> = [];
  for (const v of variants) {
    const [ft, fq, fi] = v.f;
    const raw = (await scoreEmbeddings(emb(query, fq, v.dim), emb(index, fi, v.dim), solution)).overall.mP5;
    const whiten = async (rows: Float32Array) => {
      const pca = fitPca(rows, v.dim, 64, { seed: 42 });
      return scoreEmbeddings(emb(query, applyPca(pca, fq, true, true), 64), emb(index, applyPca(pca, fi, true, true), 64), solution);
    };
    const heldOut = (await whiten(ft)).overall.mP5;
    const lodo: Record<string, number> = {};
    for (const d of domains) {
      const keep = train.map((r, i) => [r, i] as const).filter(([r]) => r.domain !== d).map(([, i]) => i);
      const rows = new Float32Array(keep.length * v.dim);
      keep.forEach((r, i) => rows.set(ft.subarray(r * v.dim, (r + 1) * v.dim), i * v.dim));
      lodo[d] = (await whiten(rows)).byDomain[d].mP5;
    }
    const lodoMean = domains.reduce((a, d) => a + lodo[d], 0) / domains.length;
    results.push({ name: v.name, heldOut, raw, lodo, lodoMean });
    console.log(`${v.name.padEnd(38)} raw ${raw.toFixed(4)}  whitened-on-train held-out ${heldOut.toFixed(4)}  LODO mean ${lodoMean.toFixed(4)}`);
  }
  console.log(`\nLODO whitened-on-train per domain (${query.length / domains.length} queries each):`);
  console.log(['domain'.padEnd(14), ...results.map((_, i) => `v${i}`.padStart(7))].join(''));
  for (const d of domains) console.log([d.padEnd(14), ...results.map((r) => r.lodo[d].toFixed(3).padStart(7))].join(''));
  results.forEach((r, i) => console.log(`v${i}: ${r.name}`));
  const best = results.reduce((a, r) => (r.lodoMean > a.lodoMean ? r : a));
  console.log(`best: ${best.name}`);
  console.log(`ratio ${(best.lodoMean / results[0].lodoMean).toFixed(4)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
