/**
 * The backbone stage of `guie train` on a tiny CLIP ViT (random weights written into paths.weights):
 * head on cached features, then the ViT on augmented images with the head locked; the checkpoint
 * carries the tuned ViT, export takes it (ONNX = training-side tfjs within 1e-4), and a run resumed
 * from a mid-epoch checkpoint ends with the same weights, bit for bit.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeRgb } from '../../lib/data/image';
import { exportModel, buildExportGraph } from '../../lib/export/export-model';
import { loadBackbone } from '../../lib/model/backbones';
import { loadModel } from '../../lib/model-loader';
import { backboneTensors, checkpointModel, listCheckpoints, loadCheckpoint } from '../../lib/train/checkpoint';
import { trainCommand } from '../../lib/train/commands';
import { classFolders, tinyVitWeights } from '../helpers/photos';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-bbstage-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('head, then the ViT on augmented images with the head locked; export carries the tuned ViT; resume is exact', async () => {
  const weights = await tinyVitWeights(path.join(tmp, 'weights'), 6);
  const photos = path.join(tmp, 'photos');
  await classFolders(photos, 10, 4, 150, 64);
  const cfg = path.join(tmp, 'cfg.json');
  fs.writeFileSync(cfg, JSON.stringify({ backbone: 'test-tiny', epochs: 2, backboneEpochs: 2, backboneLr: 1e-3, batchSize: 8, checkpointEvery: 1, keepLast: 3, paths: { data: photos, weights, cache: path.join(tmp, 'cache'), outputs: tmp } }));
  const out = path.join(tmp, 'train');
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await trainCommand({ config: cfg, out, progress: 'silent' });
  } finally {
    log.mockRestore();
  }
  const headBest = loadCheckpoint(path.join(out, 'checkpoints', 'best'));
  const best = loadCheckpoint(path.join(out, 'backbone', 'checkpoints', 'best'));
  expect(checkpointModel(best)).toMatchObject({ backbone: 'test-tiny', backboneTuned: true });
  // head locked: projection and margin exactly as the head stage left them; every ViT tensor moved but its output projection (frozen)
  for (const n of ['param/head.proj.weight', 'param/head.proj.bias', 'param/head.margin.weight']) expect(best.tensors.get(n)!.values).toEqual(headBest.tensors.get(n)!.values);
  const tuned = backboneTensors(best);
  const original = await loadBackbone('test-tiny', { weightsDir: weights });
  expect(tuned.size).toBe(original.vit!.variables.size);
  const moved = [...original.vit!.variables].filter(([k, v]) => (v.dataSync() as Float32Array).some((x, i) => x !== tuned.get(k)!.values[i]));
  expect(moved.map(([k]) => k).sort()).toEqual([...tuned.keys()].filter((k) => k !== 'proj').sort());
  expect(tuned.get('proj')!.values).toEqual(original.vit!.variables.get('proj')!.dataSync());
  original.dispose();

  // export from the run folder alone: the ONNX file runs the tuned ViT (+ head) as the training side does
  const exp = path.join(tmp, 'export');
  await exportModel((await buildExportGraph({ checkpoint: out, weightsDir: weights })).graph, exp, { zip: false });
  const side = await loadModel(out);
  const onnx = await loadModel(path.join(exp, 'model.onnx'));
  const files = fs.readdirSync(photos).slice(0, 3).map((c) => path.join(photos, c, 'photo-0.jpg'));
  const images = await Promise.all(files.map(async (f) => decodeRgb(fs.readFileSync(f))));
  const { resizeForModel } = await import('../../lib/data/image');
  const prepared = await Promise.all(images.map((im) => resizeForModel(im, side.embedder.preprocess)));
  const [a, b] = [await side.embedder.embed(prepared), await onnx.embedder.embed(prepared)];
  expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-4);
  process.env.GUIE_PATHS_WEIGHTS = weights; // the loader finds an untuned ViT where the config says
  const untuned = await loadModel(path.join(out, 'checkpoints', 'best')); // head-stage checkpoint: the file's ViT
  delete process.env.GUIE_PATHS_WEIGHTS;
  const c = await untuned.embedder.embed(prepared);
  expect(Math.max(...a.map((v, i) => Math.abs(v - c[i])))).toBeGreaterThan(1e-3); // so the check above can tell tuned from untuned
  for (const m of [side, onnx, untuned]) m.embedder.dispose();

  // resume: drop the newest checkpoints (epoch end and best), continue from a mid-epoch one, land on the same weights
  const again = path.join(tmp, 'again');
  fs.cpSync(out, again, { recursive: true });
  const ckpts = listCheckpoints(path.join(again, 'backbone', 'checkpoints'));
  const final = loadCheckpoint(ckpts[0]);
  fs.rmSync(ckpts[0], { recursive: true });
  expect(loadCheckpoint(ckpts[1]).state.batchInEpoch).toBeGreaterThan(0); // mid-epoch
  const log2 = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await trainCommand({ config: cfg, out: again, resume: true, progress: 'silent' });
  } finally {
    log2.mockRestore();
  }
  const resumed = loadCheckpoint(listCheckpoints(path.join(again, 'backbone', 'checkpoints'))[0]);
  expect(resumed.state.step).toBe(final.state.step);
  for (const [k, t] of final.tensors) expect(resumed.tensors.get(k)!.values).toEqual(t.values);
}, 600_000);
