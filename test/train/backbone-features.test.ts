/** Sample TFRecords -> pipeline -> frozen (random tiny ViT) backbone -> feature cache, built whole and resumed from half. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../lib/device';
import { buildSampleData } from '../../lib/data/builders/sample';
import { batches } from '../../lib/data/pipeline';
import { decodeRecord, encodeRecord } from '../../lib/data/schema';
import { DEFAULT_CONFIG, mergeConfig } from '../../lib/config';
import { openDataSet } from '../../lib/data/dataset';
import { dataFeatures } from '../../lib/train/prepare';
import { encodeExample, int64Feature } from '../../lib/data/example';
import { frameRecord, readTfRecords, TfRecordWriter } from '../../lib/data/tfrecord';
import { loadBackbone } from '../../lib/model/backbones';
import { cacheBackboneFeatures } from '../../lib/train/backbone-features';
import { loadFeatureCache } from '../../lib/train/feature-cache';

test('backbone features are cached in record-file order (several shards) with labels, and a half-done cache resumes to the same bytes', async () => {
  await initBackend();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-bbf-'));
  try {
    const m = await buildSampleData({ outDir: path.join(tmp, 'sample'), seed: 3, trainInstances: 6, heldOutInstances: 2, distractorInstances: 1, viewsPerInstance: 3, size: 64, shardSize: 5, log: () => {} });
    expect(m.splits.train.shards.length).toBeGreaterThan(2); // rows from several shards must not interleave
    const files = m.splits.train.shards.map((s) => path.join(tmp, 'sample', s.file));
    const backbone = await loadBackbone('test-tiny', { randomSeed: 1 });
    const dir = path.join(tmp, 'feat');
    await cacheBackboneFeatures({ files, backbone, dir, batchSize: 4, progressMode: 'silent' });
    const c = loadFeatureCache(dir);
    expect(c.count).toBe(18);
    expect(c.dim).toBe(backbone.featureDim);
    // the sample's training domains (six of the seven at this size), each named once
    expect([...c.sourceNames].sort()).toEqual(m.sources.filter((s) => s.train > 0).map((s) => s.domain).sort());
    expect(c.sourceNames.length).toBe(6);
    // the same rows straight through pipeline + backbone
    const direct: number[] = [];
    const labels: number[] = [];
    for await (const b of batches({ files, preprocess: backbone.preprocess, batchSize: 18, shuffleBuffer: 0, shuffleFiles: false, cycleLength: 1, augment: null, workers: 0 })) {
      direct.push(...tf.tidy(() => backbone.features(b.images)).dataSync());
      labels.push(...b.labels.dataSync());
      tf.dispose([b.images, b.labels]);
    }
    expect([...c.labels]).toEqual(labels);
    // cache row i is record i of the files in the order given: what lets ids and solutions line up
    const fileOrder: number[] = [];
    for (const f of files) for await (const bytes of readTfRecords(f)) fileOrder.push(decodeRecord(bytes, m.schema).label);
    expect([...c.labels]).toEqual(fileOrder);
    let max = 0;
    for (let i = 0; i < direct.length; i++) max = Math.max(max, Math.abs(direct[i] - c.features[i]));
    expect(max).toBeLessThan(1e-4); // batch 4 vs 18 through the same graph

    // cut the cache back to 6 rows (mid-batch) as a killed build leaves it, resume, compare bytes
    const whole = fs.readFileSync(path.join(dir, 'features.f32'));
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ ...meta, done: 6 }));
    await cacheBackboneFeatures({ files, backbone, dir, batchSize: 4, progressMode: 'silent' });
    expect(fs.readFileSync(path.join(dir, 'features.f32')).equals(whole)).toBe(true);
    backbone.dispose();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('a shard rewritten under the same name with the same record count (one image changed) makes the feature cache stale', async () => {
  await initBackend();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-bbf-'));
  try {
    const m = await buildSampleData({ outDir: path.join(tmp, 'sample'), seed: 5, trainInstances: 4, heldOutInstances: 2, distractorInstances: 1, viewsPerInstance: 2, size: 64, shardSize: 4, log: () => {} });
    // a user's folder of TFRecords (no manifest): the sample's training shards
    const mine = path.join(tmp, 'my-records');
    fs.mkdirSync(mine);
    const files = m.splits.train.shards.map((s) => {
      const to = path.join(mine, path.basename(s.file));
      fs.copyFileSync(path.join(tmp, 'sample', s.file), to);
      return to;
    });
    const config = mergeConfig(DEFAULT_CONFIG, { backbone: 'test-tiny', backboneEpochs: 0, paths: { ...DEFAULT_CONFIG.paths, cache: path.join(tmp, 'cache') } });
    const data = await openDataSet(config, { recordsDir: path.join(tmp, 'records') }, mine);
    const backbone = await loadBackbone('test-tiny', { randomSeed: 1 });
    const before = await dataFeatures(config, data, backbone, { progressMode: 'silent' });
    // rewrite the first shard: same file name, same records, but record 0 carries record 1's image
    const recs: Uint8Array[] = [];
    for await (const r of readTfRecords(files[0])) recs.push(r);
    const swapped = encodeRecord({ ...decodeRecord(recs[0], m.schema), image: decodeRecord(recs[1], m.schema).image }, m.schema);
    const w = new TfRecordWriter(files[0]);
    for (const [i, r] of recs.entries()) w.write(i === 0 ? swapped : r);
    w.close();
    const again = await openDataSet(config, { recordsDir: path.join(tmp, 'records') }, mine);
    expect(again.rows.length).toBe(data.rows.length);
    expect(again.fingerprint).not.toBe(data.fingerprint);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    let after;
    try {
      after = await dataFeatures(config, again, backbone, { progressMode: 'silent' });
      expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/feature cache is stale \(data: sha256:.* -> sha256:.*\): rebuilding it/);
    } finally {
      warn.mockRestore();
    }
    const d = after.cache.dim;
    const row0 = (c: typeof after.cache) => Array.from(c.features.subarray(0, d));
    expect(row0(after.cache)).not.toEqual(row0(before.cache)); // the changed image's features were recomputed
    expect(row0(after.cache)).toEqual(Array.from(after.cache.features.subarray(d, 2 * d))); // = its new image's (record 1's)
    backbone.dispose();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 120_000);

test('an undecodable image in the records stops the feature cache at once, naming file, record and reason', async () => {
  await initBackend();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-bbf-'));
  try {
    const m = await buildSampleData({ outDir: path.join(tmp, 'sample'), seed: 6, trainInstances: 3, heldOutInstances: 2, distractorInstances: 1, viewsPerInstance: 2, size: 64, shardSize: 10, log: () => {} });
    const src = path.join(tmp, 'sample', m.splits.train.shards[0].file);
    const recs: Uint8Array[] = [];
    for await (const r of readTfRecords(src)) recs.push(r);
    const file = path.join(tmp, 'bad.tfrec');
    const w = new TfRecordWriter(file);
    recs.forEach((r, i) => {
      const rec = decodeRecord(r, m.schema);
      w.write(i === 2 ? encodeRecord({ ...rec, image: rec.image.subarray(0, 40) }, m.schema) : r); // record 2: a truncated JPEG
    });
    w.close();
    const backbone = await loadBackbone('test-tiny', { randomSeed: 1 });
    await expect(cacheBackboneFeatures({ files: [file], backbone, dir: path.join(tmp, 'feat'), batchSize: 2, progressMode: 'silent' })).rejects.toThrow(
      /bad\.tfrec record 2: [^]*cannot decode image[^]*a feature cache needs every record; fix or drop it and rebuild the records/,
    );
    backbone.dispose();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 120_000);

test('skipBad: malformed records, a duplicate id and an undecodable image are left out, each named; the feature rows are exactly the good records\' (without it, opening fails on the first)', async () => {
  await initBackend();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-bbf-'));
  try {
    const m = await buildSampleData({ outDir: path.join(tmp, 'sample'), seed: 7, trainInstances: 4, heldOutInstances: 2, distractorInstances: 1, viewsPerInstance: 2, size: 64, shardSize: 10, log: () => {} });
    const recs: Uint8Array[] = [];
    for await (const r of readTfRecords(path.join(tmp, 'sample', m.splits.train.shards[0].file))) recs.push(r);
    const good = recs.slice(0, 6);
    const first = decodeRecord(good[0], m.schema);
    const bad = [
      encodeRecord({ ...decodeRecord(recs[6], m.schema), image: decodeRecord(recs[6], m.schema).image.subarray(0, 40) }, m.schema), // a truncated JPEG
      Buffer.from('not an Example at all'),
      encodeExample({ 'image/class/label': int64Feature(4) }), // no image feature
      encodeRecord({ ...first, image: decodeRecord(recs[7], m.schema).image }, m.schema), // the id of record 0 again
    ];
    const mixed = path.join(tmp, 'mixed');
    fs.mkdirSync(mixed);
    // good and bad interleaved: rows after a bad record must still meet their own features
    const order = [good[0], bad[0], good[1], good[2], bad[1], good[3], bad[2], good[4], bad[3], good[5]];
    fs.writeFileSync(path.join(mixed, 'mixed.tfrec'), Buffer.concat(order.map((r) => frameRecord(r))));
    const clean = path.join(tmp, 'clean');
    fs.mkdirSync(clean);
    fs.writeFileSync(path.join(clean, 'clean.tfrec'), Buffer.concat(good.map((r) => frameRecord(r))));

    const base = mergeConfig(DEFAULT_CONFIG, { paths: { ...DEFAULT_CONFIG.paths, cache: path.join(tmp, 'cache') }, backboneEpochs: 0 });
    await expect(openDataSet(base, { recordsDir: mixed }, mixed)).rejects.toThrow(/mixed\.tfrec record 4: /);
    const data = await openDataSet({ ...base, skipBad: true }, { recordsDir: mixed }, mixed);
    expect(data.rows.map((r) => r.record)).toEqual([0, 2, 3, 5, 7, 9]);
    expect(data.skipped.map((b) => [b.index, b.reason.replace(/^.*?record \d+: /, '')])).toEqual([
      [4, expect.any(String)],
      [6, 'missing feature "image/encoded"'],
      [8, expect.stringMatching(/^id ".*" also used by /)],
      [1, expect.stringMatching(/cannot decode image/)],
    ]);
    expect(data.summary).toMatch(/left out 4 bad records \(skipBad\), first: .*mixed\.tfrec record 4/);
    const cleanData = await openDataSet(base, { recordsDir: clean }, clean);
    expect(data.fingerprint).not.toBe(cleanData.fingerprint);

    const backbone = await loadBackbone('test-tiny', { randomSeed: 1 });
    const skipped = await dataFeatures({ ...base, skipBad: true, batchSize: 4 }, data, backbone, { progressMode: 'silent' });
    const reference = await dataFeatures({ ...base, batchSize: 4 }, cleanData, backbone, { progressMode: 'silent' });
    expect(skipped.cache.count).toBe(6);
    expect(Array.from(skipped.cache.labels)).toEqual(Array.from(reference.cache.labels));
    const a = skipped.cache.features;
    const b = reference.cache.features;
    expect(a.length).toBe(b.length);
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-5);
    backbone.dispose();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 120_000);
