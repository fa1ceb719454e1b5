/**
 * One typed configuration for every stage. Defaults here, overridden by a JSON file
 * (GUIE_CONFIG or an explicit path), then by GUIE_* environment variables: papermill cannot
 * pass parameters to a TypeScript kernel, so notebooks and the CLI read config this way.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface Config {
  /** Sample a few record files and a short run, like the reference notebook's DEBUG. */
  debug: boolean;
  seed: number;
  /** Backbone name from the registry (a CLIP config or a packaged offline CNN). */
  backbone: string;
  imageSize: number;
  batchSize: number;
  epochs: number;
  /** Head (Dense + margin) learning rate. */
  lr: number;
  /** Backbone learning rate (the winners used head lr x 1e-3). */
  backboneLr: number;
  weightDecay: number;
  warmupSteps: number;
  embeddingDim: number;
  dropout: number;
  /** Margin head: ArcFace scale and margin. */
  arcScale: number;
  arcMargin: number;
  /** Fraction of record files used for validation (0.1 in the reference notebook). */
  validFraction: number;
  /** Number of record files kept when debug is on. */
  debugShards: number;
  paths: {
    data: string;
    outputs: string;
    cache: string;
    weights: string;
  };
}

export const DEFAULT_CONFIG: Readonly<Config> = Object.freeze({
  debug: false,
  seed: 42,
  backbone: 'mobilenet_v2_140',
  imageSize: 224,
  batchSize: 32,
  epochs: 10,
  lr: 1e-3,
  backboneLr: 1e-6,
  weightDecay: 1e-4,
  warmupSteps: 0,
  embeddingDim: 64,
  dropout: 0.2,
  arcScale: 30,
  arcMargin: 0.3,
  validFraction: 0.1,
  debugShards: 4,
  paths: Object.freeze({ data: 'data', outputs: 'outputs', cache: 'outputs/cache', weights: 'outputs/weights' }),
}) as Config;

export class ConfigError extends Error {
  constructor(source: string, message: string) {
    super(`config (${source}): ${message}`);
    this.name = 'ConfigError';
  }
}

type Kind = 'boolean' | 'integer' | 'number' | 'string';
type Check = { kind: Kind; min?: number; max?: number; exclusiveMin?: boolean };

/** What each scalar key must be; validation reads this table, so adding a key is one line. */
const SCHEMA: Record<Exclude<keyof Config, 'paths'>, Check> = {
  debug: { kind: 'boolean' },
  seed: { kind: 'integer', min: 0 },
  backbone: { kind: 'string' },
  imageSize: { kind: 'integer', min: 16, max: 4096 },
  batchSize: { kind: 'integer', min: 1 },
  epochs: { kind: 'integer', min: 0 },
  lr: { kind: 'number', min: 0, exclusiveMin: true },
  backboneLr: { kind: 'number', min: 0 },
  weightDecay: { kind: 'number', min: 0 },
  warmupSteps: { kind: 'integer', min: 0 },
  embeddingDim: { kind: 'integer', min: 1, max: 64 },
  dropout: { kind: 'number', min: 0, max: 0.99 },
  arcScale: { kind: 'number', min: 0, exclusiveMin: true },
  arcMargin: { kind: 'number', min: 0, max: 1.5 },
  validFraction: { kind: 'number', min: 0, max: 0.9 },
  debugShards: { kind: 'integer', min: 1 },
};
const PATH_KEYS = ['data', 'outputs', 'cache', 'weights'] as const;

function checkValue(source: string, key: string, value: unknown, check: Check): void {
  const fail = (what: string) => {
    throw new ConfigError(source, `"${key}" ${what}, got ${JSON.stringify(value)}`);
  };
  if (check.kind === 'boolean') {
    if (typeof value !== 'boolean') fail('must be true or false');
    return;
  }
  if (check.kind === 'string') {
    if (typeof value !== 'string' || value.length === 0) fail('must be a non-empty string');
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
        checkValue(source, `paths.${p}`, v, { kind: 'string' });
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
export const RESERVED_ENV: readonly string[] = ['GUIE_CONFIG', 'GUIE_BACKEND', 'GUIE_VENV', 'GUIE_PROGRESS', 'GUIE_ENGINE', 'GUIE_CACHE'];

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
