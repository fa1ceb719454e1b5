/**
 * The named configs are JSON files in lib/model/model_configs/: every one loads into its typed
 * table with the values the TypeScript tables held before, serialises back to its file, and
 * `guie summary --list` (the built CLI) names each one.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { GEM_NODE } from '../../lib/model/cnn/graph-cut';
import { PACKAGED_CNNS } from '../../lib/model/cnn/registry';
import { MODEL_CONFIG_DIR, configAs, loadModelConfig, modelConfigNames } from '../../lib/model/model-configs';
import { VIT_CONFIGS, featureDim, getVitConfig, type VitConfig } from '../../lib/model/vit-config';
import { ensureBuilt, ROOT } from '../train/build';

const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

// name: [imageSize, patchSize, width, layers, heads, outputDim, act], as lib/model/vit-config.ts defined them in TypeScript
const VITS: Record<string, [number, number, number, number, number, number, string]> = {
  'ViT-B-32': [224, 32, 768, 12, 12, 512, 'gelu'],
  'ViT-B-32-quickgelu': [224, 32, 768, 12, 12, 512, 'quick_gelu'],
  'ViT-B-16': [224, 16, 768, 12, 12, 512, 'gelu'],
  'ViT-B-16-quickgelu': [224, 16, 768, 12, 12, 512, 'quick_gelu'],
  'ViT-L-14': [224, 14, 1024, 24, 16, 768, 'gelu'],
  'ViT-L-14-quickgelu': [224, 14, 1024, 24, 16, 768, 'quick_gelu'],
  'ViT-L-14-336': [336, 14, 1024, 24, 16, 768, 'quick_gelu'],
  'ViT-H-14': [224, 14, 1280, 32, 16, 1024, 'gelu'],
  'test-tiny': [32, 8, 64, 2, 4, 32, 'gelu'],
  'test-small': [64, 16, 128, 3, 4, 64, 'quick_gelu'],
};
// name: [packageModel, packageFormat, featureDim, imageSize, block cuts, GeM p]
const CNNS: Record<string, [string, string, number, number, number, number | null]> = {
  mobilenet_v2_140: ['mobilenet_v2_mid', 'graph-model', 1792, 224, 4, null],
  inception_v3_mixed5: ['inception_v3', 'layers-model', 768, 299, 2, null],
  mobilenet_v2_140_gem: ['mobilenet_v2_mid', 'graph-model', 1792, 224, 4, 3],
};

test('every config file loads, and the files are exactly the ViT and CNN tables', () => {
  const names = modelConfigNames();
  expect(names).toEqual(fs.readdirSync(MODEL_CONFIG_DIR).map((f) => f.replace(/\.json$/, '')).sort());
  expect(names.sort()).toEqual([...Object.keys(VITS), ...Object.keys(CNNS)].sort());
  for (const name of names) expect(loadModelConfig(name).name).toBe(name);
  expect(Object.keys(VIT_CONFIGS).sort()).toEqual(Object.keys(VITS).sort());
  expect(Object.keys(PACKAGED_CNNS).sort()).toEqual(Object.keys(CNNS).sort());
});

test('ViT-B-32 and ViT-H-14 hold their architecture numbers', () => {
  expect(getVitConfig('ViT-B-32')).toMatchObject({ width: 768, layers: 12, heads: 12, patchSize: 32, patchStride: 32, imageSize: 224, outputDim: 512, mlpRatio: 4, layerNormEps: 1e-5 });
  expect(getVitConfig('ViT-H-14')).toMatchObject({ width: 1280, layers: 32, heads: 16, patchSize: 14, imageSize: 224, outputDim: 1024, act: 'gelu' });
  expect(featureDim(getVitConfig('ViT-H-14.noproj'))).toBe(1280);
});

test.each(Object.entries(VITS))('%s: the values the TypeScript table had', (name, [imageSize, patchSize, width, layers, heads, outputDim, act]) => {
  expect(VIT_CONFIGS[name]).toEqual({
    name, imageSize, patchSize, patchStride: patchSize, width, layers, heads, mlpRatio: 4, outputDim, act, layerNormEps: 1e-5,
    preprocess: { imageSize, mean: CLIP_MEAN, std: CLIP_STD, resize: 'shortest_bicubic_crop' },
  });
});

test.each(Object.entries(CNNS))('%s: the values the TypeScript table had', (name, [packageModel, packageFormat, dim, imageSize, cuts, p]) => {
  const spec = PACKAGED_CNNS[name];
  expect(spec).toMatchObject({ name, packageModel, packageFormat, featureDim: dim, preprocess: { imageSize, mean: [0, 0, 0], std: [1, 1, 1], resize: 'bilinear' } });
  expect(spec.blockInputs).toHaveLength(cuts);
  expect(spec.gem?.p ?? null).toBe(p);
  if (name === 'inception_v3_mixed5') expect(spec).toMatchObject({ featureNode: 'mixed5', blockInputs: ['mixed4/concat', 'mixed3/concat'] });
  if (name === 'mobilenet_v2_140') expect(spec.featureNode).toBe('StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/feature_vector/SpatialSqueeze');
  if (name === 'mobilenet_v2_140_gem') expect(spec.featureNode).toBe(GEM_NODE);
});

test('each file round-trips: its typed config serialises back to the file (comment aside)', () => {
  for (const name of modelConfigNames()) {
    const { '//': _comment, ...file } = JSON.parse(fs.readFileSync(path.join(MODEL_CONFIG_DIR, `${name}.json`), 'utf8')) as Record<string, unknown>;
    const typed = file.kind === 'clip-vit' ? VIT_CONFIGS[name] : PACKAGED_CNNS[name];
    expect(JSON.parse(JSON.stringify({ kind: file.kind, ...typed }))).toEqual(file);
  }
});

test('a malformed config is refused with the file and field named', () => {
  const good = loadModelConfig('test-tiny');
  const fields = { name: 'string', imageSize: 'number' } as const;
  expect(() => configAs<Pick<VitConfig, 'name' | 'imageSize'>>({ ...good }, fields)).toThrow(/model config test-tiny: unknown field "patchSize"/);
  expect(() => configAs<Pick<VitConfig, 'name' | 'imageSize'>>({ kind: 'clip-vit', name: 'x', imageSize: '224' }, fields)).toThrow(/field "imageSize" must be number, got "224"/);
  expect(() => loadModelConfig('ViT-Q-99')).toThrow(/no model config "ViT-Q-99"/);
});

test('guie summary --list (built CLI) names every config with its kind, image size and feature width', () => {
  ensureBuilt(['lib/model/commands.ts', 'lib/model/model-configs.ts', 'lib/model/vit-config.ts', 'lib/model/cnn/registry.ts']);
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/lib/cli.js'), 'summary', '--list'], { cwd: ROOT, encoding: 'utf8' });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: expect.any(String) });
  const rows = new Map(r.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/)).map((c) => [c[0], c.slice(1)]));
  expect([...rows.keys()].sort()).toEqual(modelConfigNames());
  expect(rows.get('ViT-B-32')).toEqual(['clip-vit', '224', '512']);
  expect(rows.get('ViT-L-14-336')).toEqual(['clip-vit', '336', '768']);
  expect(rows.get('inception_v3_mixed5')).toEqual(['packaged-cnn', '299', '768']);
  expect(rows.get('mobilenet_v2_140_gem')).toEqual(['packaged-cnn', '224', '1792']);
});
