/** verify-submission on real zips: a good export passes; each classic mistake fails with a message naming it. */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { zipSync } from 'fflate';
import { getVitConfig } from '../../lib/model/vit-config';
import { clipInferenceGraph } from '../../lib/export/inference-graph';
import { writeSavedModel } from '../../lib/export/savedmodel';
import { writeSubmissionZip } from '../../lib/export/submission';
import { verifySubmission, formatVerifyReport } from '../../lib/export/verify';
import { TfjsGraphEmbedder } from '../../lib/export/tfjs-graph';
import type { Graph } from '../../lib/export/graph';
import { randomClipWeights } from '../../lib/export/random-weights';

const cfg = getVitConfig('test-tiny');
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
  it('passes a correct export, with the zip root layout, and agrees with the reference embedder', async () => {
    const graph = clipInferenceGraph(cfg, randomClipWeights(cfg));
    const zip = await zipOf('good', graph);
    const ref = await TfjsGraphEmbedder.create(graph, cfg.preprocess);
    const r = await verifySubmission(zip, { reference: ref });
    ref.dispose();
    expect(failures(r)).toBe('');
    expect(r.ok).toBe(true);
    expect(r.outputDim).toBe(64);
    expect(r.parameters).toBeGreaterThan(100_000);
    expect(Object.keys(r.latencyMs)).toContain('huge 1600x1200');
    expect(r.checks.find((c) => c.name === 'agreement')?.ok).toBe(true);
    expect(formatVerifyReport(r)).toMatch(/^PASS/);
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
});
