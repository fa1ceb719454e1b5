/** verify-submission on real zips: a good export passes; each classic mistake fails with a message naming it. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { unzipSync, Zip, ZipDeflate, zipSync } from 'fflate';
import { getVitConfig } from '../../lib/model/vit-config';
import { clipInferenceGraph } from '../../lib/export/inference-graph';
import { writeSavedModel } from '../../lib/export/savedmodel';
import { writeSubmissionZip } from '../../lib/export/submission';
import { verifySubmission, formatVerifyReport } from '../../lib/export/verify';
import { unzipBudget } from '../../lib/export/submission-unzip';
import { TfjsGraphEmbedder } from '../../lib/export/tfjs-graph';
import type { Graph } from '../../lib/export/graph';
import { exportModel, namedWeightsFromTf } from '../../lib/export/export-model';
import { randomClipWeights } from '../../lib/export/random-weights';
import type { Embedder } from '../../lib/embedder';
import { EmbeddingHead } from '../../lib/model/heads';
import { createTfjsEmbedder } from '../../lib/model/tfjs-embedder';
import { Vit } from '../../lib/model/vit';
import type { Preprocess } from '../../lib/core/preprocess';

const cfg = getVitConfig('test-tiny');

/** A random tfjs ViT + head (the training side's embedder, which resizes raw images itself) and its export graph. */
function trainingSide(preprocess: Preprocess = cfg.preprocess): { graph: Graph; embedder: Embedder } {
  const vit = Vit.random(cfg, 4);
  const head = EmbeddingHead.create({ inDim: cfg.outputDim ?? cfg.width, dim: 64, dropout: 0 }, 6);
  const named = vit.namedWeights();
  const weights = namedWeightsFromTf(named);
  tf.dispose([...named.values()]);
  for (const [k, v] of namedWeightsFromTf(head.namedWeights())) weights.set(k, v);
  return { graph: clipInferenceGraph(cfg, weights, { preprocess }), embedder: createTfjsEmbedder(vit, head, { name: 'training-side tfjs' }) };
}
let root: string;

async function zipOf(name: string, graph: Graph): Promise<string> {
  const dir = path.join(root, name);
  writeSavedModel(dir, graph);
  const zip = path.join(root, `${name}.zip`);
  await writeSubmissionZip(dir, zip);
  return zip;
}

function failures(r: { checks: { ok: boolean; name: string; detail: string }[] }): string {
  return r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('\n');
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-verify-test-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('verify-submission', () => {
  it('passes a correct export: zip root layout, the recorded preprocessing, agreement with the training side on raw sizes too', async () => {
    const { graph, embedder } = trainingSide();
    const exported = await exportModel(graph, path.join(root, 'good'), { onnx: false });
    const r = await verifySubmission(exported.zip!.file, { reference: embedder });
    embedder.dispose();
    console.log(formatVerifyReport(r));
    expect(failures(r)).toBe('');
    expect(r.ok).toBe(true);
    expect(r.outputDim).toBe(64);
    expect(r.parameters).toBeGreaterThan(100_000);
    expect(Object.keys(r.latencyMs)).toEqual(expect.arrayContaining(['huge 1600x1200', 'landscape 317x211', 'portrait 150x400', 'model-size 32x32']));
    expect(r.checks.find((c) => c.name === 'preprocessing')?.detail).toBe("test-tiny, 32 px shortest_bicubic_crop, mean [0.48145466,0.4578275,0.40821073], std [0.26862954,0.26130258,0.27577711] (export.json), the same as training-side tfjs's");
    const agreement = r.checks.find((c) => c.name === 'agreement')!;
    expect(agreement.detail).toMatch(/over 7 images, 6 of them at raw sizes other than the model's 32x32 \(tolerance 0.0001\); the graph from the zip run by ONNX Runtime .* by tfjs \(float32\) \S+ away$/);
    const worst = Number(/= (\S+) \(/.exec(agreement.detail)![1]);
    expect(worst).toBeGreaterThan(0); // float32 ViTs in two runtimes: close, not bit-identical
    expect(worst).toBeLessThan(1e-5);
    expect(Number(/by tfjs \(float32\) (\S+) away/.exec(agreement.detail)![1])).toBeLessThan(1e-3);
    expect(formatVerifyReport(r)).toMatch(/^PASS/);
  });

  it('reads the preprocessing from model.onnx when there is no export.json', async () => {
    const graph = clipInferenceGraph(cfg, randomClipWeights(cfg), { preprocess: { resize: 'bilinear' } });
    const exported = await exportModel(graph, path.join(root, 'onnx-only'));
    fs.rmSync(path.join(exported.outDir, 'export.json'));
    const r = await verifySubmission(exported.zip!.file);
    expect(r.checks.find((c) => c.name === 'preprocessing')?.detail).toMatch(/^test-tiny, 32 px bilinear, .* \(model\.onnx\)$/);
    expect(r.ok).toBe(true);
  });

  it('fails an export whose recorded preprocessing is not the training side\'s, and its raw-size embeddings disagree', async () => {
    const { graph, embedder } = trainingSide({ ...cfg.preprocess, resize: 'bilinear' });
    const exported = await exportModel(graph, path.join(root, 'wrong-resize'), { onnx: false });
    const r = await verifySubmission(exported.zip!.file, { reference: embedder });
    embedder.dispose();
    expect(r.ok).toBe(false);
    expect(failures(r)).toMatch(/preprocessing: the export records test-tiny, 32 px bilinear, .* but training-side tfjs preprocesses 32 px shortest_bicubic_crop, .*other pixels than training did/);
    expect(failures(r)).toMatch(/agreement: max \|submission - training-side tfjs\| = .* over 7 images, 6 of them at raw sizes/);
  });

  it('rejects a zip whose SavedModel sits in a nested folder', async () => {
    const dir = path.join(root, 'nested-src');
    writeSavedModel(dir, clipInferenceGraph(cfg, randomClipWeights(cfg)));
    const files: Record<string, Uint8Array> = {};
    for (const f of ['saved_model.pb', 'variables/variables.index', 'variables/variables.data-00000-of-00001']) files[`my_model/${f}`] = fs.readFileSync(path.join(dir, f));
    const zip = path.join(root, 'nested.zip');
    fs.writeFileSync(zip, zipSync(files));
    const r = await verifySubmission(zip);
    expect(r.ok).toBe(false);
    expect(failures(r)).toMatch(/saved_model\.pb is inside the folder "my_model\/".*zip root/);
  });

  it('rejects a file that is not a zip', async () => {
    const zip = path.join(root, 'notzip.zip');
    fs.writeFileSync(zip, 'this is a saved_model.pb, honest');
    const r = await verifySubmission(zip);
    expect(r.ok).toBe(false);
    expect(failures(r)).toMatch(/notzip\.zip: not a zip, or an empty one/);
  });

  it('rejects a 128-d output', async () => {
    const w = randomClipWeights(cfg, 128);
    const r = await verifySubmission(await zipOf('wide', clipInferenceGraph(cfg, w)));
    expect(r.ok).toBe(false);
    expect(failures(r)).toMatch(/embedding: declared float32 \[-1,128\].*at most 64/);
  });

  it('rejects outputs that are not L2-normalised', async () => {
    const graph = clipInferenceGraph(cfg, randomClipWeights(cfg));
    // the same model with its outputs taken before the L2 normalisation
    const raw = graph.nodes.find((n) => n.op === 'BiasAdd' && n.name.startsWith('head/'))!;
    const unnormalised: Graph = { ...graph, outputs: { embedding: { ...graph.outputs.embedding, name: `${raw.name}:0` } } };
    const r = await verifySubmission(await zipOf('raw', unnormalised));
    expect(r.ok).toBe(false);
    expect(failures(r)).toMatch(/L2 norm \d+\.\d+ \(not unit-normalised\)/);
  });

  it('rejects a broken saved_model.pb', async () => {
    const dir = path.join(root, 'broken');
    writeSavedModel(dir, clipInferenceGraph(cfg, randomClipWeights(cfg)));
    const pb = fs.readFileSync(path.join(dir, 'saved_model.pb'));
    fs.writeFileSync(path.join(dir, 'saved_model.pb'), pb.subarray(0, Math.floor(pb.length / 3)));
    const zip = path.join(root, 'broken.zip');
    await writeSubmissionZip(dir, zip);
    const r = await verifySubmission(zip);
    expect(r.ok).toBe(false);
    expect(failures(r)).toMatch(/saved_model: .*saved_model\.pb: not a valid SavedModel protobuf/);
  });

  it('rejects a checkpoint whose data was corrupted (crc32c)', async () => {
    const dir = path.join(root, 'corrupt');
    writeSavedModel(dir, clipInferenceGraph(cfg, randomClipWeights(cfg)));
    const data = path.join(dir, 'variables', 'variables.data-00000-of-00001');
    const bytes = fs.readFileSync(data);
    bytes[100] ^= 0xff;
    fs.writeFileSync(data, bytes);
    const zip = path.join(root, 'corrupt.zip');
    await writeSubmissionZip(dir, zip);
    const r = await verifySubmission(zip);
    expect(failures(r)).toMatch(/fails its crc32c check/);
  });

  it('flags disagreement with the training-side model', async () => {
    const graph = clipInferenceGraph(cfg, randomClipWeights(cfg, 64, 1));
    const other = clipInferenceGraph(cfg, randomClipWeights(cfg, 64, 2));
    const ref = await TfjsGraphEmbedder.create(other, cfg.preprocess);
    const r = await verifySubmission(await zipOf('disagree', graph), { reference: ref });
    ref.dispose();
    expect(failures(r)).toMatch(/agreement: max \|submission - tfjs-graph\| = .* \(tolerance 0.0001\)/);
  });

  it('a zip bomb is refused within its budget, entries outside a SavedModel are refused, killed runs leave no folder behind', async () => {
    // saved_model.pb + 300 MiB of zeros as a "variables" file: a ~0.3 MiB zip
    const bomb = path.join(root, 'bomb.zip');
    const fd = fs.openSync(bomb, 'w');
    const zip = new Zip((err, chunk) => {
      if (err) throw err;
      fs.writeSync(fd, chunk);
    });
    const small = new ZipDeflate('saved_model.pb');
    zip.add(small);
    small.push(new Uint8Array(100), true);
    const big = new ZipDeflate('variables/variables.data-00000-of-00001', { level: 9 });
    zip.add(big);
    const zeros = new Uint8Array(16 << 20);
    for (let i = 0; i < 300 / 16; i++) big.push(zeros, false);
    big.push(zeros.subarray(0, 12 << 20), true);
    zip.end();
    fs.closeSync(fd);
    const zipBytes = fs.statSync(bomb).size;
    expect(zipBytes).toBeLessThan(2 << 20);
    const before = new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('guie-verify-')));
    const t0 = Date.now();
    const r = await verifySubmission(bomb);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.ok).toBe(false);
    const budgetMiB = (unzipBudget(zipBytes) / 2 ** 20).toFixed(0);
    expect(failures(r)).toMatch(new RegExp(`zip: .*expands beyond ${budgetMiB} MiB \\(at "variables/variables\\.data-00000-of-00001".*refused as a zip bomb`));
    // its folder is gone (other processes, e.g. the main-job test's verify stage in another jest worker, may have theirs)
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`guie-verify-${process.pid}-`) && !before.has(n))).toEqual([]);
    // the budget: the option or 4 GiB, and never more than 20x the zip + 64 MiB
    expect(unzipBudget(17 << 20)).toBe(20 * (17 << 20) + (64 << 20));
    expect(unzipBudget(2.5 * 2 ** 30)).toBe(4 * 2 ** 30);
    expect(unzipBudget(2.5 * 2 ** 30, 1 << 30)).toBe(1 << 30);

    // an entry the scorer would never load is refused, by name
    const { graph } = trainingSide();
    const good = await zipOf('extra', graph);
    const entries = unzipSync(fs.readFileSync(good));
    const extra = path.join(root, 'extra-entry.zip');
    fs.writeFileSync(extra, zipSync({ ...entries, 'run.sh': new TextEncoder().encode('#!/bin/sh\n') }));
    expect(failures(await verifySubmission(extra))).toMatch(/layout: entry "run\.sh" is not part of a SavedModel .*: the scorer loads only those/);

    // a verify run killed with -9 left its folder: the next run removes it (its pid is gone)
    const dead = spawnSync('node', ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const leftover = path.join(os.tmpdir(), `guie-verify-${dead}-abc123`);
    fs.mkdirSync(path.join(leftover, 'variables'), { recursive: true });
    fs.writeFileSync(path.join(leftover, 'saved_model.pb'), 'x');
    await verifySubmission(good);
    expect(fs.existsSync(leftover)).toBe(false);
  }, 120_000);
});
