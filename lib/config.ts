/**
 * One typed configuration for every stage. Defaults here, overridden by a JSON file
 * (GUIE_CONFIG or an explicit path), then by GUIE_* environment variables: papermill cannot
 * pass parameters to a TypeScript kernel, so notebooks and the CLI read config this way.
 */
import * as fs from 'fs';
import * as path from 'path';

export type SplitKind = 'classes' | 'images' | 'files';

export interface Config {
  /** Sample a few record files and a short run, like the reference notebook's DEBUG. */
  debug: boolean;
  seed: number;
  /** Backbone name from the registry (a CLIP config or a packaged offline CNN). */
  backbone: string;
  batchSize: number;
  epochs: number;
  /** Head (Dense + margin) learning rate. */
  lr: number;
  /** Backbone learning rate: 1e-3 suits the packaged CNNs' last blocks; CLIP ViTs want ~1e-6..1e-5 (the winners used head lr x 1e-3). */
  backboneLr: number;
  weightDecay: number;
  warmupSteps: number;
  embeddingDim: number;
  /** Where the head starts: Glorot-random, or the whitened PCA of the training features (the untrained head = whitened PCA). */
  headInit: 'random' | 'whitening';
  dropout: number;
  /** Margin head: ArcFace scale and margin. */
  arcScale: number;
  arcMargin: number;
  margin: 'arcface' | 'cosface';
  subCenters: number;
  labelSmoothing: number;
  optimizer: 'adamw' | 'sgd';
  schedule: 'linear' | 'cosine' | 'multistep' | 'constant';
  accumSteps: number;
  clipNorm: number;
  checkpointEvery: number;
  keepLast: number;
  /** Epochs of the backbone stage after the head (CLIP ViTs: fine-tuning on augmented images); 0 = head only. */
  backboneEpochs: number;
  /** Packaged CNNs: how many of the last blocks the backbone stage tunes (the activations feeding them are cached). */
  backboneBlocks: number;
  /** ViT layer-wise lr decay per block toward the stem in the backbone stage (1 = off). */
  layerDecay: number;
  /** Decay of an exponential moving average of the weights (0 = off); validation, `best` and export use the average. */
  ema: number;
  /** L2-SP: weight of ½‖w − w0‖² pulling each stage's trained weights toward where the stage began (0 = off). */
  anchor: number;
  /** Main job, data of >= 2 domains: head recipes (lib/train/recipes.ts) tried by leave-one-domain-out; the best held-out-domain validation picks the recipe and its epochs. */
  recipes: string;
  /** Backbone stage: freeze the head and tune only the backbone ("head-locking", 1st place); false = head at its own lr too. */
  headLock: boolean;
  /** How held-out evaluation data is chosen: whole classes, images within classes, or record files. */
  split: SplitKind;
  /** Share held out for evaluation: of the classes, of each class's images, or of the record files (by `split`). */
  validFraction: number;
  /** Share of the training classes held out for per-epoch validation (early stopping). */
  valClassFraction: number;
  /** Number of record files kept when debug is on. */
  debugShards: number;
  /** Leave out records that are malformed or whose image does not decode (each named, counted) instead of failing on the first. */
  skipBad: boolean;
  paths: {
    /** Your data: a folder of class folders or a folder of TFRecords; empty = the bundled sample. */
    data: string;
    outputs: string;
    cache: string;
    weights: string;
  };
}

/**
 * Tuned for the default backbone (CLIP ViT recipes set their own, see the README): head lr 1e-2 for 10 epochs (on
 * the seven-domain default, leave-one-domain-out: mean held-out-domain validation 0.693 at epoch 10 of 10, 0.695 at
 * epoch 17 of 30, the domains' queries 0.757 vs 0.769, within their +-0.04; a third of the time), earlier on the
 * one-domain sample held-out mP@5 0.685 vs 0.59 at the CLIP recipe's 1e-3 x 10, started from the whitened PCA of the training
 * features (head alone 0.640 -> 0.665 against a random start); then MobileNetV2's last 2 blocks for 3 epochs
 * at 1e-3, head locked (0.665 -> 0.700; from a random head 0.640 -> 0.685; at 1e-4 or 1e-5 no gain).
 */
export const DEFAULT_CONFIG: Readonly<Config> = Object.freeze({
  debug: false,
  seed: 42,
  backbone: 'mobilenet_v2_140',
  batchSize: 32,
  epochs: 10,
  lr: 1e-2,
  backboneLr: 1e-3,
  weightDecay: 1e-4,
  warmupSteps: 0,
  embeddingDim: 64,
  headInit: 'whitening',
  dropout: 0.2,
  arcScale: 30,
  arcMargin: 0.3,
  margin: 'arcface',
  subCenters: 1,
  labelSmoothing: 0,
  optimizer: 'adamw',
  schedule: 'linear',
  accumSteps: 1,
  clipNorm: 0,
  checkpointEvery: 100,
  keepLast: 3,
  backboneEpochs: 3,
  backboneBlocks: 2,
  layerDecay: 0.8,
  ema: 0,
  anchor: 0,
  recipes: 'base',
  headLock: true,
  split: 'classes',
  validFraction: 0.1,
  valClassFraction: 0.1,
  debugShards: 4,
  skipBad: false,
  paths: Object.freeze({ data: '', outputs: 'outputs', cache: 'outputs/cache', weights: 'outputs/weights' }),
}) as Config;

export class ConfigError extends Error {
  constructor(source: string, message: string) {
    super(`config (${source}): ${message}`);
    this.name = 'ConfigError';
  }
}

type Kind = 'boolean' | 'integer' | 'number' | 'string';
type Check = { kind: Kind; min?: number; max?: number; exclusiveMin?: boolean; values?: readonly string[]; doc: string };
type ScalarKey = Exclude<keyof Config, 'paths'>;
type PathKey = keyof Config['paths'];

/** Every key: what it must be and what it means. Validation, `guie config --list` and `--help` read this table. */
const SCHEMA: Record<ScalarKey, Check> = {
  debug: { kind: 'boolean', doc: `keep ${DEFAULT_CONFIG.debugShards} record files (debugShards) for a quick run` },
  seed: { kind: 'integer', min: 0, doc: 'seed of splits, shuffles, initialisation and dropout' },
  backbone: { kind: 'string', doc: 'backbone: mobilenet_v2_140 | inception_v3_mixed5 (offline) or a CLIP ViT name (weights from a file)' },
  batchSize: { kind: 'integer', min: 1, doc: 'images per batch (features and training)' },
  epochs: { kind: 'integer', min: 0, doc: 'head training epochs' },
  lr: { kind: 'number', min: 0, exclusiveMin: true, doc: 'head learning rate (peak of the schedule)' },
  backboneLr: { kind: 'number', min: 0, doc: 'backbone stage learning rate (1e-3 suits the packaged CNNs\' last blocks; CLIP ViTs want ~1e-6..1e-5)' },
  weightDecay: { kind: 'number', min: 0, doc: 'decoupled weight decay (none on biases)' },
  warmupSteps: { kind: 'integer', min: 0, doc: 'linear warmup steps before the schedule' },
  embeddingDim: { kind: 'integer', min: 1, max: 64, doc: 'embedding width (64 for a GUIE submission)' },
  headInit: { kind: 'string', values: ['random', 'whitening'], doc: 'head start: random (Glorot), or the whitened PCA-<embeddingDim> of the training features (then the untrained head is that baseline)' },
  dropout: { kind: 'number', min: 0, max: 0.99, doc: 'dropout before the Dense projection' },
  arcScale: { kind: 'number', min: 0, exclusiveMin: true, doc: 'margin softmax logit scale s' },
  arcMargin: { kind: 'number', min: 0, max: 1.5, doc: 'margin m' },
  margin: { kind: 'string', values: ['arcface', 'cosface'], doc: 'margin loss' },
  subCenters: { kind: 'integer', min: 1, doc: 'sub-centers per class (sub-center ArcFace)' },
  labelSmoothing: { kind: 'number', min: 0, max: 0.99, doc: 'label smoothing of the margin softmax' },
  optimizer: { kind: 'string', values: ['adamw', 'sgd'], doc: 'optimizer' },
  schedule: { kind: 'string', values: ['linear', 'cosine', 'multistep', 'constant'], doc: 'lr schedule after warmup' },
  accumSteps: { kind: 'integer', min: 1, doc: 'micro-batches per optimizer step' },
  clipNorm: { kind: 'number', min: 0, doc: 'global gradient-norm clip (0 = off)' },
  checkpointEvery: { kind: 'integer', min: 1, doc: 'optimizer steps between checkpoints (plus every epoch end)' },
  keepLast: { kind: 'integer', min: 1, doc: 'step checkpoints kept (the best one is kept apart)' },
  backboneEpochs: { kind: 'integer', min: 0, doc: 'backbone stage epochs after the head (CLIP ViTs on augmented images, packaged CNNs on their last backboneBlocks; lr backboneLr); 0 = head only' },
  backboneBlocks: { kind: 'integer', min: 1, doc: 'packaged CNNs: last blocks tuned in the backbone stage, 1-4 (mobilenet_v2_140) or 1-2 (inception_v3_mixed5); the activations feeding them are cached once' },
  ema: { kind: 'number', min: 0, max: 0.9999, doc: 'weight EMA decay per optimizer step, warmed up as min(ema, (1+t)/(10+t)) (0 = off); validation, best checkpoint, export and soup use the average' },
  anchor: { kind: 'number', min: 0, doc: 'L2-SP: weight of 1/2 |w - w0|^2 toward the weights each stage began from (the whitening head, the pretrained blocks); 0 = off' },
  layerDecay: { kind: 'number', min: 0, exclusiveMin: true, max: 1, doc: 'ViT layer-wise lr decay per block toward the stem in the backbone stage (1 = off)' },
  recipes: { kind: 'string', doc: 'main job on >= 2 domains: comma-separated head recipes (base = the settings above; l2-sp, cosface, sub-center, low-lr override them) trained leaving each domain out; the best mean held-out-domain validation picks the recipe and its epoch count (early stopping; with one name only the epochs are chosen). Measured on the default: base 0.6685 at epoch 4, l2-sp 0.6676, cosface 0.6592, so the default tries base alone (three recipes take 3x the 550 s)' },
  headLock: { kind: 'boolean', doc: 'backbone stage: head frozen, only the backbone tuned (head-locking); false = the head trains too, at the head lr "lr"' },
  split: { kind: 'string', values: ['classes', 'images', 'files'], doc: 'held-out evaluation: whole classes, images within each class, or record files (reference notebook)' },
  validFraction: { kind: 'number', min: 0, max: 0.9, doc: 'share held out for evaluation: of the classes, of each class\'s images, or of the files' },
  valClassFraction: { kind: 'number', min: 0, max: 0.5, doc: 'share of training classes held out for per-epoch validation (0 = none)' },
  debugShards: { kind: 'integer', min: 1, doc: 'record files kept when debug is on' },
  skipBad: { kind: 'boolean', doc: 'leave out records that are malformed or whose image does not decode, each named with file, record and reason, and go on (false: fail on the first, naming it). Finding them decodes every image once more when the data set opens' },
};
const PATH_DOCS: Record<PathKey, string> = {
  data: 'your data: a folder of class folders or of TFRecords (+ manifest.json); empty = the bundled sample',
  outputs: 'where runs, exports and reports go',
  cache: 'derived data (feature caches, sample data), keyed by content',
  weights: 'model weights',
};
const PATH_KEYS = Object.keys(PATH_DOCS) as PathKey[];
const ALLOW_EMPTY: readonly string[] = ['paths.data'];

/** One line per key: name, default, meaning (for `guie config --list` and `guie train --help`). */
export function describeConfig(config: Config = DEFAULT_CONFIG): string {
  const rows: Array<[string, string, string]> = [
    ...(Object.keys(SCHEMA) as ScalarKey[]).map((k): [string, string, string] => [k, JSON.stringify(config[k]), SCHEMA[k].doc + (SCHEMA[k].values ? ` (${SCHEMA[k].values!.join(' | ')})` : '')]),
    ...PATH_KEYS.map((k): [string, string, string] => [`paths.${k}`, JSON.stringify(config.paths[k]), PATH_DOCS[k]]),
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return rows.map(([k, v, d]) => `  ${k.padEnd(w0)}  ${v.padEnd(w1)}  ${d}`).join('\n');
}

function checkValue(source: string, key: string, value: unknown, check: Check): void {
  const fail = (what: string) => {
    throw new ConfigError(source, `"${key}" ${what}, got ${JSON.stringify(value)}`);
  };
  if (check.kind === 'boolean') {
    if (typeof value !== 'boolean') fail('must be true or false');
    return;
  }
  if (check.kind === 'string') {
    if (typeof value !== 'string' || (value.length === 0 && !ALLOW_EMPTY.includes(key))) fail('must be a non-empty string');
    if (check.values && !check.values.includes(value as string)) fail(`must be one of ${check.values.join(', ')}`);
    return;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return fail('must be a finite number');
  if (check.kind === 'integer' && !Number.isInteger(value)) fail('must be an integer');
  if (check.min !== undefined && (check.exclusiveMin ? value <= check.min : value < check.min)) {
    fail(`must be ${check.exclusiveMin ? '>' : '>='} ${check.min}`);
  }
  if (check.max !== undefined && value > check.max) fail(`must be <= ${check.max}`);
}

/** Validates a partial override: unknown keys and wrong types are errors, never ignored. */
export function validatePartial(raw: unknown, source: string): Partial<Config> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(source, 'must be a JSON object');
  }
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'paths') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new ConfigError(source, '"paths" must be an object');
      }
      for (const [p, v] of Object.entries(value)) {
        if (!(PATH_KEYS as readonly string[]).includes(p)) {
          throw new ConfigError(source, `unknown key "paths.${p}" (known: ${PATH_KEYS.join(', ')})`);
        }
        checkValue(source, `paths.${p}`, v, { kind: 'string', doc: '' });
      }
      continue;
    }
    const check = (SCHEMA as Record<string, Check | undefined>)[key];
    if (!check) throw new ConfigError(source, `unknown key "${key}" (known: ${[...Object.keys(SCHEMA), 'paths'].join(', ')})`);
    checkValue(source, key, value, check);
  }
  return raw as Partial<Config>;
}

/** GUIE_* variables that steer tools rather than set config keys. */
export const RESERVED_ENV: readonly string[] = [
  'GUIE_CONFIG', 'GUIE_BACKEND', 'GUIE_VENV', 'GUIE_NOTEBOOK_VENV', 'GUIE_PROGRESS', 'GUIE_ENGINE', 'GUIE_CACHE', 'GUIE_OFFLINE', 'GUIE_ORT_CUDA', 'GUIE_VERBOSE',
  // the notebooks' own switches (02: weights and model config; 05/06: the ViT to export; 07: the jig's inputs)
  'GUIE_WEIGHTS', 'GUIE_MODEL_CONFIG', 'GUIE_EXPORT_VIT', 'GUIE_JIG_GALLERY', 'GUIE_JIG_QUERIES', 'GUIE_JIG_MODEL',
];

/** GUIE_BATCH_SIZE=8 -> batchSize; GUIE_PATHS_DATA=... -> paths.data. Values parse as JSON when they can. */
export function envOverrides(env: NodeJS.ProcessEnv = process.env): Partial<Config> {
  const out: Record<string, unknown> = {};
  const paths: Record<string, unknown> = {};
  const camel = (s: string) => s.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('GUIE_') || value === undefined || RESERVED_ENV.includes(name)) continue;
    const key = camel(name.slice(5));
    let parsed: unknown = value;
    try {
      parsed = JSON.parse(value);
    } catch {
      /* a bare string such as a path */
    }
    if (key.startsWith('paths')) paths[key.slice(5, 6).toLowerCase() + key.slice(6)] = value;
    else out[key] = parsed;
  }
  if (Object.keys(paths).length > 0) out.paths = paths;
  return validatePartial(out, 'environment');
}

export function mergeConfig(base: Config, over: Partial<Config>): Config {
  return { ...base, ...over, paths: { ...base.paths, ...(over.paths ?? {}) } };
}

/** defaults <- JSON file (explicit path, else GUIE_CONFIG) <- GUIE_* environment variables. */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Config {
  let config = mergeConfig(DEFAULT_CONFIG, {});
  const configFile = file ?? env.GUIE_CONFIG;
  if (configFile) {
    const abs = path.resolve(configFile);
    let text: string;
    try {
      text = fs.readFileSync(abs, 'utf8');
    } catch (e) {
      throw new ConfigError(abs, `cannot read file: ${(e as Error).message}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(abs, `not valid JSON: ${(e as Error).message}`);
    }
    config = mergeConfig(config, validatePartial(raw, abs));
  }
  return mergeConfig(config, envOverrides(env));
}
