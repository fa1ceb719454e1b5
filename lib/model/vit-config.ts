/**
 * CLIP vision-tower configs as data (open_clip keeps each architecture as a small JSON file).
 * Preprocessing travels with the config (timm's default_cfg idea) so data pipeline, export graph
 * and jig read the same numbers.
 */

export type Activation = 'gelu' | 'quick_gelu';

export interface Preprocess {
  imageSize: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** 'shortest_bicubic_crop' = CLIP eval (shorter side -> size, bicubic, centre crop); 'bilinear' = host baseline squash-resize. */
  resize: 'shortest_bicubic_crop' | 'bilinear';
}

export interface VitConfig {
  name: string;
  imageSize: number;
  patchSize: number;
  /** Patch-embedding stride; < patchSize gives overlapping patches (1st place fine-tuned that way). */
  patchStride: number;
  width: number;
  layers: number;
  heads: number;
  mlpRatio: number;
  /** Output projection width (CLIP joint space); null = no projection, features are `width`-d. */
  outputDim: number | null;
  act: Activation;
  layerNormEps: number;
  preprocess: Preprocess;
}

export const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

function clip(name: string, c: Pick<VitConfig, 'patchSize' | 'width' | 'layers' | 'heads' | 'outputDim' | 'act'> & { imageSize?: number; mlpRatio?: number }): VitConfig {
  const imageSize = c.imageSize ?? 224;
  return {
    name,
    imageSize,
    patchSize: c.patchSize,
    patchStride: c.patchSize,
    width: c.width,
    layers: c.layers,
    heads: c.heads,
    mlpRatio: c.mlpRatio ?? 4,
    outputDim: c.outputDim,
    act: c.act,
    layerNormEps: 1e-5,
    preprocess: { imageSize, mean: CLIP_MEAN, std: CLIP_STD, resize: 'shortest_bicubic_crop' },
  };
}

/** Named configs: OpenAI models use QuickGELU, OpenCLIP LAION models exact GELU. */
export const VIT_CONFIGS: Record<string, VitConfig> = {
  'ViT-B-32': clip('ViT-B-32', { patchSize: 32, width: 768, layers: 12, heads: 12, outputDim: 512, act: 'gelu' }),
  'ViT-B-32-quickgelu': clip('ViT-B-32-quickgelu', { patchSize: 32, width: 768, layers: 12, heads: 12, outputDim: 512, act: 'quick_gelu' }),
  'ViT-B-16': clip('ViT-B-16', { patchSize: 16, width: 768, layers: 12, heads: 12, outputDim: 512, act: 'gelu' }),
  'ViT-B-16-quickgelu': clip('ViT-B-16-quickgelu', { patchSize: 16, width: 768, layers: 12, heads: 12, outputDim: 512, act: 'quick_gelu' }),
  'ViT-L-14': clip('ViT-L-14', { patchSize: 14, width: 1024, layers: 24, heads: 16, outputDim: 768, act: 'gelu' }),
  'ViT-L-14-quickgelu': clip('ViT-L-14-quickgelu', { patchSize: 14, width: 1024, layers: 24, heads: 16, outputDim: 768, act: 'quick_gelu' }),
  'ViT-L-14-336': clip('ViT-L-14-336', { imageSize: 336, patchSize: 14, width: 1024, layers: 24, heads: 16, outputDim: 768, act: 'quick_gelu' }),
  'ViT-H-14': clip('ViT-H-14', { patchSize: 14, width: 1280, layers: 32, heads: 16, outputDim: 1024, act: 'gelu' }),
  /** Small configs for tests: same code paths, seconds on a CPU. */
  'test-tiny': clip('test-tiny', { imageSize: 32, patchSize: 8, width: 64, layers: 2, heads: 4, outputDim: 32, act: 'gelu' }),
  'test-small': clip('test-small', { imageSize: 64, patchSize: 16, width: 128, layers: 3, heads: 4, outputDim: 64, act: 'quick_gelu' }),
};

/** `<ViT name>.noproj`: the tower without its output projection ("projection dropped"): features are the pooled width-d token. */
export const NO_PROJECTION = '.noproj';

/** The registry name a variant is built from (and whose weights file it reads). */
export function baseVitName(name: string): string {
  return name.endsWith(NO_PROJECTION) ? name.slice(0, -NO_PROJECTION.length) : name;
}

export function getVitConfig(name: string, overrides: Partial<VitConfig> = {}): VitConfig {
  const base = VIT_CONFIGS[baseVitName(name)];
  if (!base) throw new Error(`unknown ViT config "${name}" (known: ${Object.keys(VIT_CONFIGS).join(', ')}, each also as <name>${NO_PROJECTION})`);
  const cfg = { ...base, ...(name !== base.name ? { name, outputDim: null } : {}), ...overrides };
  if (overrides.imageSize !== undefined) cfg.preprocess = { ...cfg.preprocess, imageSize: overrides.imageSize };
  return cfg;
}

/** Patch grid side for a config (stride-aware: overlapping patches give a larger grid). */
export function gridSize(cfg: VitConfig): number {
  return Math.floor((cfg.imageSize - cfg.patchSize) / cfg.patchStride) + 1;
}

/** Backbone feature width: projection output if any, else transformer width. */
export function featureDim(cfg: VitConfig): number {
  return cfg.outputDim ?? cfg.width;
}
