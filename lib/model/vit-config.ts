/**
 * CLIP vision-tower configs as data (open_clip keeps each architecture as a small JSON file; ours
 * are in lib/model/model_configs/). Preprocessing travels with the config (timm's default_cfg idea)
 * so data pipeline, export graph and jig read the same numbers.
 */
import { configAs, loadModelConfig, modelConfigNames, type FieldType } from './model-configs';
import type { Preprocess } from '../core/preprocess';

export type Activation = 'gelu' | 'quick_gelu';

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

const VIT_FIELDS: Record<keyof VitConfig, FieldType> = {
  name: 'string',
  imageSize: 'number',
  patchSize: 'number',
  patchStride: 'number',
  width: 'number',
  layers: 'number',
  heads: 'number',
  mlpRatio: 'number',
  outputDim: 'number|null',
  act: 'string',
  layerNormEps: 'number',
  preprocess: 'object',
};

/** Named configs, from the clip-vit files in lib/model/model_configs/: OpenAI models use QuickGELU, OpenCLIP LAION models exact GELU; test-* are small configs for tests (same code paths, seconds on a CPU). */
export const VIT_CONFIGS: Record<string, VitConfig> = Object.fromEntries(
  modelConfigNames()
    .map(loadModelConfig)
    .filter((f) => f.kind === 'clip-vit')
    .map((f) => [f.name, configAs<VitConfig>(f, VIT_FIELDS)]),
);

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
