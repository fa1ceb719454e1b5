/** Seeded random CLIP ViT weights (offline exports, tests, notebooks) in OpenCLIP naming and PyTorch layouts (what lib/model's namedWeights() gives), plus a 64-d head. */
import type { VitConfig } from '../model/vit-config';
import { gridSize } from '../model/vit-config';
import type { HostTensor } from './graph';
import { f32 } from './graph';
import type { NamedWeights } from './inference-graph';
import { Rng } from '../util/random';

export function randomClipWeights(cfg: VitConfig, headDim = 64, seed = 1): NamedWeights {
  const r = new Rng(seed);
  const w: NamedWeights = new Map();
  const rand = (name: string, shape: number[], scale: number, offset = 0): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const t: HostTensor = f32(Array.from({ length: n }, () => offset + (r.float() * 2 - 1) * scale), shape);
    w.set(name, t);
  };
  const width = cfg.width;
  const n = gridSize(cfg) ** 2 + 1;
  const hidden = cfg.mlpRatio * width;
  rand('conv1.weight', [width, 3, cfg.patchSize, cfg.patchSize], 1 / Math.sqrt(3 * cfg.patchSize ** 2));
  rand('class_embedding', [width], 0.5);
  rand('positional_embedding', [n, width], 0.5);
  const ln = (p: string): void => { rand(`${p}.weight`, [width], 0.2, 1); rand(`${p}.bias`, [width], 0.1); };
  ln('ln_pre');
  for (let i = 0; i < cfg.layers; i++) {
    const p = `transformer.resblocks.${i}`;
    ln(`${p}.ln_1`);
    rand(`${p}.attn.in_proj_weight`, [3 * width, width], 1 / Math.sqrt(width));
    rand(`${p}.attn.in_proj_bias`, [3 * width], 0.1);
    rand(`${p}.attn.out_proj.weight`, [width, width], 1 / Math.sqrt(width));
    rand(`${p}.attn.out_proj.bias`, [width], 0.1);
    ln(`${p}.ln_2`);
    rand(`${p}.mlp.c_fc.weight`, [hidden, width], 1 / Math.sqrt(width));
    rand(`${p}.mlp.c_fc.bias`, [hidden], 0.1);
    rand(`${p}.mlp.c_proj.weight`, [width, hidden], 1 / Math.sqrt(hidden));
    rand(`${p}.mlp.c_proj.bias`, [width], 0.1);
  }
  ln('ln_post');
  const out = cfg.outputDim ?? width;
  if (cfg.outputDim !== null) rand('proj', [width, cfg.outputDim], 1 / Math.sqrt(width));
  rand('head.proj.weight', [headDim, out], 1 / Math.sqrt(out));
  rand('head.proj.bias', [headDim], 0.1);
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
