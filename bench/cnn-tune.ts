/**
 * The default CNN's partial fine-tuning, images/s: MobileNetV2's last `blocks` blocks + Dense(64) +
 * ArcFace trained (forward + backward + AdamW) from cached cut activations, as the backbone stage
 * does, against the same step from images (the frozen prefix run every step), in the same process.
 *   node dist/bench/cnn-tune.js [--blocks 2] [--batch 32] [--steps 12]
 */
import * as tf from '@tensorflow/tfjs';
import { arg } from './common';
import { initBackend } from '../lib/device';
import { loadBackbone } from '../lib/model/backbones';
import { disposeCnnGraph } from '../lib/model/cnn-graph';
import { cnnCut, prefixBackbone, suffixBackbone } from '../lib/train/cnn-backbone';
import { createModel, initHeadWeights, type HeadConfig } from '../lib/train/model';
import { makeOptimizer, paramGroups } from '../lib/train/optim';

async function main(): Promise<void> {
  const [blocks, batch, steps] = [arg('blocks', 2), arg('batch', 32), arg('steps', 12)];
  const choice = await initBackend();
  const b = await loadBackbone('mobilenet_v2_140');
  const cut = cnnCut(b, blocks);
  const prefix = prefixBackbone(b, cut);
  const head: HeadConfig = { inputDim: b.featureDim, embeddingDim: 64, numClasses: 100, dropout: 0, margin: 'arcface', scale: 30, marginValue: 0.3 };
  const model = createModel(head, initHeadWeights(head, 0), suffixBackbone(cut));
  const trainable = model.params.filter((p) => p.name.startsWith('backbone.'));
  const opt = makeOptimizer(paramGroups(trainable, { lr: 1e-4, weightDecay: 1e-4 }), { kind: 'adamw' });
  const s = b.preprocess.imageSize;
  const images = tf.randomUniform([batch, s, s, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const cached = prefix.features(images);
  const labels = tf.tensor1d(Int32Array.from({ length: batch }, (_, i) => i % head.numClasses), 'int32');
  const vars = trainable.map((p) => p.variable);
  const step = (input: () => tf.Tensor): void => {
    const { value, grads } = tf.variableGrads(() => model.loss(input(), labels, null), vars);
    const named = new Map(trainable.map((p) => [p.name, grads[p.variable.name]]));
    opt.step(named, 1);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  };
  const imagesPerSec = (input: () => tf.Tensor): number => {
    step(input); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step(input);
    return (steps * batch * 1000) / (performance.now() - t0);
  };
  const fromCache = imagesPerSec(() => cached);
  const fromImages = imagesPerSec(() => tf.tidy(() => prefix.features(images)));
  console.log(`${b.name}: last ${blocks} blocks (${cut.weights.length} tensors, input ${cut.shape.join('x')}) + Dense(64) + ArcFace, AdamW, batch ${batch}, ${steps} timed steps, tfjs ${choice.backend}`);
  console.log(`  from cached activations (the backbone stage): ${fromCache.toFixed(1)} img/s`);
  console.log(`  from images (prefix run every step):          ${fromImages.toFixed(1)} img/s`);
  tf.dispose([images, cached, labels]);
  opt.dispose();
  model.dispose();
  disposeCnnGraph(cut.graph);
  b.dispose();
  console.log(`ratio ${(fromCache / fromImages).toFixed(2)}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
