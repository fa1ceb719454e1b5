/**
 * ViT fine-tuning throughput: one training step = forward + backward + AdamW over the whole CLIP
 * tower and the head (lib/train: createModel(vitBackbone) -> Dense(64) -> ArcFace -> label-smoothed
 * CE; paramGroups with backbone lr and layer-wise decay; AdamW), on tfjs-node (TensorFlow's native
 * CPU kernels; GUIE_BACKEND overrides), against PyTorch open_clip doing the same step on the CPU
 * with the same thread count (bench/vit_train_torch.py). Random weights and images, float32.
 * The two sides alternate for `rounds` rounds and each reports its best round.
 * Usage: node dist/bench/vit-train.js [config=ViT-B-16] [batch=8] [steps=2] [rounds=2]
 * Last line: `ratio <tfjs images/s / torch images/s>`.
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { selectBackend } from '../lib/device';
import { Vit } from '../lib/model/vit';
import { featureDim, getVitConfig } from '../lib/model/vit-config';
import { createModel, initHeadWeights, type HeadConfig } from '../lib/train/model';
import { makeOptimizer, paramGroups, type NamedTensors } from '../lib/train/optim';
import { vitBackbone } from '../lib/train/vit-backbone';
import { PROJECT_ROOT } from '../lib/util/paths';

const CLASSES = 1000;
const LR = 1e-3;
const BACKBONE_LR = 1e-5;
const LAYER_DECAY = 0.8;
const WEIGHT_DECAY = 0.05;

async function main(): Promise<void> {
  const [name = 'ViT-B-16', batchArg = '8', stepsArg = '2', roundsArg = '2'] = process.argv.slice(2);
  const batch = Number(batchArg);
  const steps = Number(stepsArg);
  const rounds = Number(roundsArg);
  const cfg = getVitConfig(name);
  // the CPU native backend unless GUIE_BACKEND says otherwise (a GPU would not be a like-for-like peer)
  const { backend } = await selectBackend({ order: ['tensorflow'] });
  const threads = os.cpus().length; // TensorFlow's default intra-op pool: one thread per logical core

  const vit = Vit.random(cfg, 0);
  const head: HeadConfig = { inputDim: featureDim(cfg), embeddingDim: 64, numClasses: CLASSES, dropout: 0, margin: 'arcface', scale: 30, marginValue: 0.3, labelSmoothing: 0.1 };
  const model = createModel(head, initHeadWeights(head, 0), vitBackbone(vit));
  const groups = paramGroups(model.params, {
    lr: LR,
    weightDecay: WEIGHT_DECAY,
    rules: [{ match: /^backbone\./, lrScale: BACKBONE_LR / LR }],
    layerwise: { numLayers: cfg.layers, decay: LAYER_DECAY, match: /^backbone\./ },
  });
  const opt = makeOptimizer(groups, { kind: 'adamw' });
  const vars = model.params.map((p) => p.variable);
  const nameOf = new Map(model.params.map((p) => [p.variable.name, p.name]));
  const x = tf.randomNormal([batch, cfg.imageSize, cfg.imageSize, 3]) as tf.Tensor4D;
  const y = tf.tensor1d(Int32Array.from({ length: batch }, (_, i) => (i * 37) % CLASSES), 'int32');

  const step = (): number => {
    const { value, grads } = tf.variableGrads(() => model.loss(x, y, null), vars);
    const named: NamedTensors = new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g]));
    opt.step(named, 1);
    for (const g of named.values()) g.dispose();
    const loss = value.dataSync()[0]; // also waits for the step
    value.dispose();
    return loss;
  };

  const spec = { width: cfg.width, layers: cfg.layers, heads: cfg.heads, patch: cfg.patchSize, image: cfg.imageSize, outputDim: cfg.outputDim, act: cfg.act, batch, steps, threads, classes: CLASSES, lr: LR, backboneLr: BACKBONE_LR, layerDecay: LAYER_DECAY, weightDecay: WEIGHT_DECAY };
  const py = path.join(PROJECT_ROOT, '.venv', 'bin', 'python');
  const runTorch = () => {
    const out = execFileSync(py, [path.join(PROJECT_ROOT, 'bench', 'vit_train_torch.py'), JSON.stringify(spec)], { encoding: 'utf8', env: { ...process.env, CUDA_VISIBLE_DEVICES: '' } });
    return JSON.parse(out.trim().split('\n').pop()!) as { imagesPerSec: number; threads: number; torch: string; loss: number };
  };

  const firstLoss = step(); // warm-up (kernel setup, first allocations)
  let ours = 0;
  let torch = { imagesPerSec: 0, threads: 0, torch: '', loss: NaN };
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    ours = Math.max(ours, (batch * steps) / ((performance.now() - t0) / 1000));
    const t = runTorch();
    if (t.imagesPerSec > torch.imagesPerSec) torch = t;
  }
  tf.dispose([x, y]);
  opt.dispose();
  model.dispose();

  console.log(`${name} training step (forward + backward + AdamW, tower + Dense(64) + ArcFace), batch ${batch}, ${steps} timed steps, best of ${rounds} alternating rounds`);
  console.log(`  tfjs (${backend}, ${threads} threads): ${ours.toFixed(3)} images/s (first loss ${firstLoss.toFixed(3)})`);
  console.log(`  PyTorch ${torch.torch} open_clip (${torch.threads} threads): ${torch.imagesPerSec.toFixed(3)} images/s (first loss ${torch.loss.toFixed(3)})`);
  console.log(`ratio ${(ours / torch.imagesPerSec).toFixed(3)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
