/**
 * The packaged CNN's backbone stage through `guie run` on real photos: the head on cached features,
 * then MobileNetV2's last 2 blocks on cached cut activations with the head locked; the checkpoint
 * holds exactly those blocks' tensors (moved) beside the untouched head; export, verify-submission
 * and `--model <checkpoint>` all run the tuned network, and agree.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_CONFIG, mergeConfig } from '../../lib/config';
import { decodeRgb, resizeForModel } from '../../lib/data/image';
import { initBackend } from '../../lib/device';
import { runMainJob } from '../../lib/main-job';
import { loadModel } from '../../lib/model-loader';
import { loadBackbone } from '../../lib/model/backbones';
import { PACKAGED_CNNS } from '../../lib/model/cnn/registry';
import { backboneTensors, checkpointModel, loadCheckpoint } from '../../lib/train/checkpoint';
import { cnnCut } from '../../lib/train/cnn-backbone';
import { disposeCnnGraph } from '../../lib/model/cnn-graph';
import { classFolders } from '../helpers/photos';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-cnnstage-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('guie run with backboneEpochs: the last blocks tuned on cached activations, carried into export, verification and loading', async () => {
  await initBackend();
  const photos = path.join(tmp, 'photos');
  await classFolders(photos, 8, 4, 220, 160);
  const config = mergeConfig(DEFAULT_CONFIG, { split: 'images', validFraction: 0.25, epochs: 3, backboneEpochs: 2, backboneLr: 1e-3, batchSize: 8, paths: { ...DEFAULT_CONFIG.paths, data: photos, cache: path.join(tmp, 'cache'), outputs: tmp } });
  const lines: string[] = [];
  const run = path.join(tmp, 'run');
  const res = await runMainJob({ config, outDir: run, jig: false, log: (l) => lines.push(l) });
  expect(lines.join('\n')).toMatch(/train backbone\n\s+mobilenet_v2_140: last 2 blocks \(8 tensors\) on cached 7x7x224 activations, head locked, 2 epochs at backbone lr 0\.001/);
  expect(res.stages.find((s) => s.stage === 'verify submission')!.result).toMatch(/^ok/);

  const head = loadCheckpoint(path.join(run, 'train', 'checkpoints', 'best'));
  const tunedDir = path.join(run, 'train', 'backbone', 'checkpoints', 'best');
  const tuned = loadCheckpoint(tunedDir);
  expect(checkpointModel(tuned)).toMatchObject({ backbone: 'mobilenet_v2_140', backboneTuned: true });
  for (const n of ['param/head.proj.weight', 'param/head.proj.bias', 'param/head.margin.weight']) expect(tuned.tensors.get(n)!.values).toEqual(head.tensors.get(n)!.values);
  const blocks = backboneTensors(tuned);
  const packaged = await loadBackbone('mobilenet_v2_140', { cacheDir: path.join(tmp, 'cache', 'backbones') });
  const cut = cnnCut(packaged, 2);
  expect([...blocks.keys()].sort()).toEqual([...cut.weights].sort());
  expect([...blocks.keys()].every((k) => k.includes('expanded_conv_16') || k.includes('Conv_1'))).toBe(true);
  for (const [k, t] of blocks) expect(t.values.some((v, i) => v !== (cut.graph.consts.get(k)!.dataSync() as Float32Array)[i])).toBe(true);
  disposeCnnGraph(cut.graph);

  // --model <checkpoint> (tfjs, tuned graph weights) = the exported ONNX (tuned weights in the graph) = not the packaged network
  const files = fs.readdirSync(photos).slice(0, 3).map((c) => path.join(photos, c, 'photo-1.jpg'));
  const pp = PACKAGED_CNNS.mobilenet_v2_140.preprocess;
  const images = await Promise.all(files.map(async (f) => resizeForModel(await decodeRgb(fs.readFileSync(f)), pp)));
  const side = await loadModel(tunedDir);
  const onnx = await loadModel(path.join(run, 'export', 'model.onnx'));
  const untuned = await loadModel(path.join(run, 'train', 'checkpoints', 'best'));
  const [a, b, c] = [await side.embedder.embed(images), await onnx.embedder.embed(images), await untuned.embedder.embed(images)];
  expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-4);
  expect(Math.max(...a.map((v, i) => Math.abs(v - c[i])))).toBeGreaterThan(1e-3);
  expect(side.description).toMatch(/mobilenet_v2_140 fine-tuned \+ head/);
  for (const m of [side, onnx, untuned]) m.embedder.dispose();
  packaged.dispose();
}, 300_000);
