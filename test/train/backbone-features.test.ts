/** Sample TFRecords -> pipeline -> frozen (random tiny ViT) backbone -> feature cache, built whole and resumed from half. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../lib/device';
import { buildSampleData } from '../../lib/data/builders/sample';
import { batches } from '../../lib/data/pipeline';
import { decodeRecord } from '../../lib/data/schema';
import { readTfRecords } from '../../lib/data/tfrecord';
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
    expect(c.sourceNames).toEqual(['dishes']);
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
