/** Seeded random CLIP ViT weights (offline exports, tests, notebooks) in OpenCLIP naming and PyTorch layouts (what lib/model's namedWeights() gives), plus a 64-d head. */
import type { VitConfig } from '../model/vit-config';
import { randomVitWeights } from '../model/vit-layout';
import type { HostTensor } from './graph';
import type { NamedWeights } from './inference-graph';
import { Rng } from '../util/random';

/** The tower as vit-layout.ts's 'probe' init (every tensor matters to a parity test) and a head drawn at fan-in scale. */
export function randomClipWeights(cfg: VitConfig, headDim = 64, seed = 1): NamedWeights {
  const w: NamedWeights = new Map();
  const put = (name: string, data: Float32Array, shape: number[]): void => void w.set(name, { dtype: 'float32', shape, data } satisfies HostTensor);
  for (const [name, t] of randomVitWeights(cfg, seed, 'probe')) put(name, t.data, t.shape);
  const out = cfg.outputDim ?? cfg.width;
  const r = Rng.derive(seed, -1); // the head's own stream, apart from the tower's 0..n-1
  const uniform = (n: number, halfWidth: number): Float32Array => Float32Array.from({ length: n }, () => (r.float() * 2 - 1) * halfWidth);
  put('head.proj.weight', uniform(headDim * out, 1 / Math.sqrt(out)), [headDim, out]);
  put('head.proj.bias', uniform(headDim, 0.1), [headDim]);
  return w;
}

/** A uint8 RGB image with smooth structure (gradients + noise), seeded. */
export function randomImage(width: number, height: number, seed: number, gray = false): Uint8Array {
  const r = new Rng(seed);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const base = 128 + 100 * Math.sin((x / width) * 6 + seed) * Math.cos((y / height) * 4);
    const g = Math.round(Math.min(255, Math.max(0, base + 20 * (r.float() - 0.5))));
    for (let c = 0; c < 3; c++) out[(y * width + x) * 3 + c] = gray ? g : Math.round(Math.min(255, Math.max(0, base + 60 * (r.float() - 0.5) + 30 * c)));
  }
  return out;
}
