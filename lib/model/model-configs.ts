/**
 * Every named model config is data: one JSON file per architecture in lib/model/model_configs/
 * (open_clip's layout), a CLIP ViT's tower or a packaged CNN's cut, told apart by `kind`. A `"//"`
 * field is a comment and is dropped on load. Read from the source tree (as lib/data/example.proto
 * is), so ts-jest and the compiled dist/ see the same files with no copy step.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../util/paths';

export type ModelKind = 'packaged-cnn' | 'clip-vit';

/** A config file's fields; vit-config.ts and cnn/registry.ts check them against their types. */
export interface ModelConfigFile {
  kind: ModelKind;
  name: string;
  [field: string]: unknown;
}

/** What a field must hold: `typeof` its value, or null / absence allowed. */
export type FieldType = 'number' | 'string' | 'object' | 'number|null' | 'object?';

export const MODEL_CONFIG_DIR = path.join(PROJECT_ROOT, 'lib', 'model', 'model_configs');

const COMMENT = '//';

/** Every config name (the file names without .json), sorted. */
export function modelConfigNames(): string[] {
  return fs
    .readdirSync(MODEL_CONFIG_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** The named config file, its comment dropped; throws naming the file when it is missing or malformed. */
export function loadModelConfig(name: string): ModelConfigFile {
  const file = path.join(MODEL_CONFIG_DIR, `${name}.json`);
  if (!fs.existsSync(file)) throw new Error(`no model config "${name}" (${file}; known: ${modelConfigNames().join(', ')})`);
  const { [COMMENT]: _comment, ...raw } = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (raw.kind !== 'clip-vit' && raw.kind !== 'packaged-cnn') throw new Error(`${file}: kind ${JSON.stringify(raw.kind)} is neither "clip-vit" nor "packaged-cnn"`);
  if (raw.name !== name) throw new Error(`${file}: name ${JSON.stringify(raw.name)} differs from the file name`);
  return raw as ModelConfigFile;
}

/** Checks `file` holds exactly `fields` (each of its type) besides `kind`, and returns it as T. */
export function configAs<T>(file: ModelConfigFile, fields: Record<keyof T, FieldType>): T {
  const { kind: _kind, ...cfg } = file;
  const where = `model config ${file.name}`;
  for (const key of Object.keys(cfg)) if (!(key in fields)) throw new Error(`${where}: unknown field "${key}"`);
  for (const [key, type] of Object.entries(fields) as Array<[string, FieldType]>) {
    const v = cfg[key];
    const ok = type === 'number|null' ? v === null || typeof v === 'number' : type === 'object?' ? v === undefined || typeof v === 'object' : typeof v === type;
    if (!ok) throw new Error(`${where}: field "${key}" must be ${type}, got ${JSON.stringify(v)}`);
  }
  return cfg as T;
}
