/**
 * The packaged-CNN cache on real files: each kind of damage is detected with a message that
 * names the directory and the fault, then the cache is rebuilt from the package, giving the
 * same weights bit for bit and the same features as before.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../lib/device';
import { loadBackbone } from '../../lib/model/backbones';
import { BackboneCacheError, ensureCache, readCache } from '../../lib/model/cnn/cnn-cache';
import { PACKAGED_CNNS } from '../../lib/model/cnn/registry';
import { sharedCacheDir } from './helpers';

const NAME = 'mobilenet_v2_140';
const spec = PACKAGED_CNNS[NAME];
let root: string;
let pristine: { json: string; bin: Buffer };

beforeAll(async () => {
  await initBackend();
  const good = await ensureCache(spec, path.join(sharedCacheDir(), NAME), () => undefined);
  pristine = { json: fs.readFileSync(good.modelJsonPath, 'utf8'), bin: good.weights };
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-backbone-cache-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A fresh copy of the good cache under its own root, damaged by `damage`. */
function damagedCache(label: string, damage: (dir: string) => void): string {
  const cacheRoot = path.join(root, label);
  const dir = path.join(cacheRoot, NAME);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model.json'), pristine.json);
  fs.writeFileSync(path.join(dir, 'weights.bin'), pristine.bin);
  damage(dir);
  return cacheRoot;
}

const editJson = (dir: string, edit: (j: tf.io.ModelJSON) => void) => {
  const file = path.join(dir, 'model.json');
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as tf.io.ModelJSON;
  edit(j);
  fs.writeFileSync(file, JSON.stringify(j));
};

const cases: Array<[string, (dir: string) => void, RegExp]> = [
  ['truncated weights', (d) => fs.truncateSync(path.join(d, 'weights.bin'), 1000), /weights\.bin has 1000 bytes, the manifest describes 17167240/],
  ['bad JSON', (d) => fs.writeFileSync(path.join(d, 'model.json'), pristine.json.slice(0, 500)), /model\.json is not valid JSON/],
  [
    'manifest with a wrong weight shape',
    (d) => editJson(d, (j) => (j.weightsManifest[0].weights[1].shape = [...j.weightsManifest[0].weights[1].shape, 2])),
    /weights\.bin has 17167240 bytes, the manifest describes (?!17167240 )\d+ /,
  ],
  [
    'one flipped byte',
    (d) => {
      const f = path.join(d, 'weights.bin');
      const b = fs.readFileSync(f);
      b[12345] ^= 0xff;
      fs.writeFileSync(f, b);
    },
    /weights\.bin checksum .* differs from the recorded/,
  ],
  ['missing weights', (d) => fs.rmSync(path.join(d, 'weights.bin')), /weights\.bin is missing/],
  ['another package version', (d) => editJson(d, (j) => ((j.userDefinedMetadata as { guie: { source: string } }).guie.source = 'nsfwjs@0.0.1/mobilenet_v2_mid')), /built from nsfwjs@0\.0\.1\/mobilenet_v2_mid, installed package is nsfwjs@/],
];

test.each(cases)('%s: detected with a clear message, then rebuilt from the package', async (label, damage, message) => {
  const cacheRoot = damagedCache(label.replace(/\W+/g, '-'), damage);
  const dir = path.join(cacheRoot, NAME);
  expect(() => readCache(spec, dir)).toThrow(BackboneCacheError);
  expect(() => readCache(spec, dir)).toThrow(message);

  const logs: string[] = [];
  const b = await loadBackbone(NAME, { cacheDir: cacheRoot, log: (m) => logs.push(m) });
  try {
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain(`backbone cache ${dir}:`);
    expect(logs[0]).toMatch(message);
    expect(logs[0]).toMatch(/rebuilding from nsfwjs@\d/);
    const rebuilt = readCache(spec, dir);
    expect(rebuilt.weights.equals(pristine.bin)).toBe(true);
    const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const f = b.features(x);
    expect(f.shape).toEqual([1, 1792]);
    tf.dispose([x, f]);
  } finally {
    b.dispose();
  }
});

test('a sound cache is read, not rebuilt', async () => {
  const cacheRoot = damagedCache('sound', () => undefined);
  const bin = path.join(cacheRoot, NAME, 'weights.bin');
  const past = new Date(Date.now() - 3600_000);
  fs.utimesSync(bin, past, past);
  const logs: string[] = [];
  const b = await loadBackbone(NAME, { cacheDir: cacheRoot, log: (m) => logs.push(m) });
  b.dispose();
  expect(logs).toEqual([]);
  expect(fs.statSync(bin).mtimeMs).toBeCloseTo(past.getTime(), -3);
});

test('a missing cache is built once, atomically (no temporary directories left)', async () => {
  const cacheRoot = path.join(root, 'fresh');
  const logs: string[] = [];
  const b = await loadBackbone(NAME, { cacheDir: cacheRoot, log: (m) => logs.push(m) });
  b.dispose();
  expect(logs).toEqual([expect.stringMatching(/mobilenet_v2_140: decoding nsfwjs@[\d.]+\/mobilenet_v2_mid into .* \(once\)/)]);
  expect(fs.readdirSync(cacheRoot)).toEqual([NAME]);
  expect(fs.readdirSync(path.join(cacheRoot, NAME)).sort()).toEqual(['model.json', 'weights.bin']);
});
