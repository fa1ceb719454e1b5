/**
 * `guie jig`: searchFolder's answers and mP@5 against an independent brute-force computation in
 * this test, the self-contained report, and --model with a real exported ONNX file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readOnnxAbout, writeOnnx } from '../../lib/export/onnx';
import { clipInferenceGraph } from '../../lib/export/inference-graph';
import { OnnxEmbedder } from '../../lib/export/onnx-embedder';
import { getVitConfig } from '../../lib/model/vit-config';
import { jigCommand } from '../../lib/jig/commands';
import { listImageFolder } from '../../lib/jig/gallery';
import { jigReportHtml } from '../../lib/jig/report';
import { searchFolder } from '../../lib/jig/search';
import { randomClipWeights } from '../../lib/export/random-weights';
import { exportModel } from '../../lib/export/export-model';
import { loadJigModel } from '../../lib/jig/embedders';
import { decodeForEmbedder } from '../../lib/jig/image';
import { disposeFixture, makeFixture, type Fixture } from './fixture';

let fx: Fixture;
beforeAll(async () => {
  fx = await makeFixture({}, 15);
});
afterAll(async () => {
  if (fx) await disposeFixture(fx);
});

test('top-k and mP@5 (overall, per domain) agree with a brute-force search and the host formula', async () => {
  const r = await searchFolder(fx.gallery, fx.demo.queries, { k: 5 });
  expect(r.queries).toHaveLength(15);
  expect(r.unjudged).toBe(0);
  const dim = 64;
  const g = fx.gallery.index.vectors;
  const qv = await fx.gallery.embedEncoded(fx.queries.map((q) => fs.readFileSync(q.file)));
  const perDomain = new Map<string, number[]>();
  let total = 0;
  fx.queries.forEach((q, i) => {
    const scores = fx.gallery.items.map((_, j) => {
      let s = 0;
      for (let d = 0; d < dim; d++) s += qv[i * dim + d] * g[j * dim + d];
      return { j, s };
    });
    scores.sort((a, b) => b.s - a.s || a.j - b.j);
    const top = scores.slice(0, 5);
    expect(r.queries[i].matches.map((m) => m.index)).toEqual(top.map((t) => t.j));
    r.queries[i].matches.forEach((m, k) => expect(m.score).toBeCloseTo(top[k].s, 5));
    // Host CalibratedPrecision: hits in the first min(n_relevant, 5) / min(n_relevant, 5); 3 views per picture.
    const p = top.slice(0, 3).filter((t) => fx.gallery.items[t.j].label === q.label).length / 3;
    for (const m of r.queries[i].matches) expect(m.hit).toBe(m.label === q.label);
    total += p;
    const d = q.key.split('/')[0];
    perDomain.set(d, [...(perDomain.get(d) ?? []), p]);
  });
  expect(r.metrics!.overall.mP5).toBeCloseTo(total / 15, 10);
  expect(r.metrics!.overall.mP5).toBeGreaterThan(0.6); // the demo descriptor does find augmented views
  for (const [d, ps] of perDomain) expect(r.metrics!.byDomain[d].mP5).toBeCloseTo(ps.reduce((a, b) => a + b, 0) / ps.length, 10);
  expect(r.projection.gallery).toHaveLength(2 * fx.gallery.size);
  expect(r.projection.queries).toHaveLength(2 * 15);

  const html = jigReportHtml(r, fx.gallery);
  expect(html.match(/class="qrow"/g)).toHaveLength(15);
  const hits = r.queries.flatMap((q) => q.matches).filter((m) => m.hit).length;
  expect(html.match(/class="cell hit"/g)?.length ?? 0).toBe(hits);
  expect(html.match(/class="cell miss"/g)?.length ?? 0).toBe(75 - hits);
  expect(html).toContain(`<b>${r.metrics!.overall.mP5.toFixed(3)}</b>`);
  expect(html).toContain('<svg');
  // Self-contained: every image is inline, nothing is fetched.
  expect(html).not.toMatch(/(src|href)="(?!data:)/);
  expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
});

test('queries without a gallery label are shown but not scored', async () => {
  const dir = path.join(fx.root, 'mixed');
  fs.mkdirSync(path.join(dir, 'unknown-label'), { recursive: true });
  fs.copyFileSync(fx.queries[0].file, path.join(dir, 'unlabelled.jpg'));
  fs.copyFileSync(fx.queries[1].file, path.join(dir, 'unknown-label', 'x.jpg'));
  const r = await searchFolder(fx.gallery, dir, { k: 3 });
  expect(r.unjudged).toBe(2);
  expect(r.metrics).toBeUndefined();
  expect(r.queries[0].matches).toHaveLength(3);
  expect(r.queries[0].matches[0].hit).toBeUndefined();
  expect(jigReportHtml(r, fx.gallery)).toMatch(/No ground truth/);
});

test('jigCommand with an exported ONNX model: report written, vectors are that model\'s, cache reused', async () => {
  const cfg = getVitConfig('test-tiny');
  const onnxFile = path.join(fx.root, 'tiny.onnx');
  writeOnnx(onnxFile, clipInferenceGraph(cfg, randomClipWeights(cfg)));
  const out = path.join(fx.root, 'report.html');
  const lines: string[] = [];
  const opts = { gallery: fx.demo.gallery, queries: fx.demo.queries, model: onnxFile, imageSize: cfg.imageSize, out, k: 5, cacheDir: path.join(fx.root, 'onnx-cache') };
  const r = await jigCommand(opts, (s) => lines.push(s));
  expect(fs.readFileSync(out, 'utf8')).toContain('onnxruntime');
  expect(lines.join('\n')).toMatch(/gallery: 45 images \(embedded in/);
  expect(r.metrics!.overall.queries).toBe(15);

  // The file records the ViT's own preprocessing (CLIP crop + bicubic), and the jig fed it exactly that
  const about = readOnnxAbout(onnxFile)!;
  expect(about).toEqual({ backbone: 'test-tiny', preprocess: cfg.preprocess });
  expect(cfg.preprocess.resize).toBe('shortest_bicubic_crop');
  // The report's top match for query 0 is what that ONNX model itself ranks first.
  const ort = await OnnxEmbedder.create(onnxFile, about.preprocess);
  const { decodeForEmbedder } = await import('../../lib/jig/image');
  const vec = async (file: string) => ort.embed([(await decodeForEmbedder(fs.readFileSync(file), ort.preprocess)).rgb]);
  const q = await vec(fx.queries[0].file);
  const top = r.queries[0].matches[0];
  const t = await vec(path.join(fx.demo.gallery, top.key));
  expect(q.reduce((s, v, i) => s + v * t[i], 0)).toBeCloseTo(top.score, 4);
  ort.dispose();

  lines.length = 0;
  await jigCommand(opts, (s) => lines.push(s));
  expect(lines.join('\n')).toMatch(/gallery: 45 images \(cached index\)/);
});

test('GUIE_ENGINE=tfjs runs the SavedModel exported beside the ONNX file, with the same vectors', async () => {
  const cfg = getVitConfig('test-tiny');
  const dir = path.join(fx.root, 'engine');
  await exportModel(clipInferenceGraph(cfg, randomClipWeights(cfg)), dir, { zip: false });
  const onnxFile = path.join(dir, 'model.onnx');
  const images = [(await decodeForEmbedder(fs.readFileSync(fx.queries[0].file), { ...cfg.preprocess, resize: 'bilinear' })).rgb];
  const viaOrt = await loadJigModel(onnxFile, cfg.imageSize);
  const before = process.env.GUIE_ENGINE;
  process.env.GUIE_ENGINE = 'tfjs';
  try {
    const viaTfjs = await loadJigModel(onnxFile, cfg.imageSize);
    expect(viaTfjs.fingerprint).toMatch(/^tfjs:/);
    expect(viaOrt.fingerprint).toMatch(/^onnxruntime:/);
    const a = await viaOrt.embedder.embed(images);
    const b = await viaTfjs.embedder.embed(images);
    expect(a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0)).toBeLessThan(1e-4);
    viaTfjs.embedder.dispose();
    fs.rmSync(path.join(dir, 'saved_model'), { recursive: true });
    await expect(loadJigModel(onnxFile, cfg.imageSize)).rejects.toThrow(/GUIE_ENGINE=tfjs: no SavedModel beside/);
  } finally {
    if (before === undefined) delete process.env.GUIE_ENGINE;
    else process.env.GUIE_ENGINE = before;
    viaOrt.embedder.dispose();
  }
});

test('bad --model and missing --queries are clear errors', async () => {
  await expect(jigCommand({ gallery: fx.demo.gallery, out: path.join(fx.root, 'x.html'), k: 5 })).rejects.toThrow(/--queries is required/);
  await expect(jigCommand({ gallery: fx.demo.gallery, queries: fx.demo.queries, model: 'weights.bin', out: path.join(fx.root, 'x.html'), k: 5 })).rejects.toThrow(/--model weights.bin: does not exist/);
  expect(listImageFolder(fx.demo.queries)).toHaveLength(15);
});
