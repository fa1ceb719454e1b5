import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ConfigError, DEFAULT_CONFIG, envOverrides, loadConfig, RESERVED_ENV, validatePartial } from '../lib/config';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-config-'));
const writeJson = (name: string, text: string) => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
};

describe('config', () => {
  test('defaults mirror the reference notebook', () => {
    const c = loadConfig(undefined, {});
    expect(c).toEqual({ ...DEFAULT_CONFIG, paths: { ...DEFAULT_CONFIG.paths } });
    expect(c.embeddingDim).toBe(64);
    expect(c.validFraction).toBeCloseTo(0.1);
  });

  test('file then environment override defaults, paths merge key by key', () => {
    const f = writeJson('ok.json', JSON.stringify({ debug: true, batchSize: 8, paths: { data: '/d' } }));
    const c = loadConfig(f, { GUIE_BATCH_SIZE: '16', GUIE_LR: '0.01', GUIE_PATHS_OUTPUTS: '/o', GUIE_BACKBONE: 'ViT-B-32' });
    expect(c.debug).toBe(true);
    expect(c.batchSize).toBe(16);
    expect(c.lr).toBe(0.01);
    expect(c.backbone).toBe('ViT-B-32');
    expect(c.paths).toEqual({ ...DEFAULT_CONFIG.paths, data: '/d', outputs: '/o' });
  });

  test('GUIE_CONFIG names the file when no path is given', () => {
    const f = writeJson('env.json', '{"epochs": 3}');
    expect(loadConfig(undefined, { GUIE_CONFIG: f }).epochs).toBe(3);
  });

  test.each([
    [{ batchSize: 0 }, /"batchSize" must be >= 1, got 0/],
    [{ batchSize: 2.5 }, /"batchSize" must be an integer/],
    [{ lr: 0 }, /"lr" must be > 0/],
    [{ embeddingDim: 128 }, /"embeddingDim" must be <= 64, got 128/],
    [{ debug: 'yes' }, /"debug" must be true or false/],
    [{ bacthSize: 4 }, /unknown key "bacthSize"/],
    [{ paths: { dta: 'x' } }, /unknown key "paths.dta"/],
    [{ paths: 'x' }, /"paths" must be an object/],
    [[1, 2], /must be a JSON object/],
  ])('rejects %j', (raw, msg) => {
    expect(() => validatePartial(raw, 'test')).toThrow(ConfigError);
    expect(() => validatePartial(raw, 'test')).toThrow(msg);
  });

  test('a broken file is reported with its path', () => {
    const f = writeJson('bad.json', '{"epochs": 3,');
    expect(() => loadConfig(f, {})).toThrow(new RegExp(`config \\(${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\): not valid JSON`));
    expect(() => loadConfig(path.join(tmp, 'missing.json'), {})).toThrow(/cannot read file/);
  });

  test('environment values are validated and tool variables are not config keys', () => {
    expect(() => envOverrides({ GUIE_EPOCHS: 'many' })).toThrow(/"epochs" must be a finite number, got "many"/);
    expect(() => envOverrides({ GUIE_BATCHSIZE: '4' })).toThrow(/unknown key "batchsize"/);
    expect(envOverrides({ GUIE_BACKEND: 'cpu', GUIE_PROGRESS: 'lines', GUIE_VENV: '/v' })).toEqual({});
    // the switches the README documents (no fetch, ONNX Runtime on CUDA) are not config keys: never 'unknown key'
    expect(envOverrides({ GUIE_OFFLINE: '1', GUIE_ORT_CUDA: '1' })).toEqual({});
    // every GUIE_* name the code, notebooks, scripts and README use is a tool switch or a config key (GUIE_OFFLINE=1 once failed every command)
    const root = path.join(__dirname, '..');
    const files = ['README.md', ...['lib', 'notebooks', 'scripts'].flatMap((d) => fs.readdirSync(path.join(root, d), { recursive: true, encoding: 'utf8' }).map((f) => path.join(d, f)))].filter((f) => /\.(ts|ipynb|sh|py|md)$/.test(f));
    const names = new Set(files.flatMap((f) => fs.readFileSync(path.join(root, f), 'utf8').match(/\bGUIE_[A-Z][A-Z_]*[A-Z]\b/g) ?? []));
    expect(names.size).toBeGreaterThan(15);
    const keys = new Set([...Object.keys(DEFAULT_CONFIG), ...Object.keys(DEFAULT_CONFIG.paths).map((k) => `paths.${k}`)]);
    const camel = (s: string) => s.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const unknown = [...names].filter((n) => !RESERVED_ENV.includes(n) && !keys.has(camel(n.slice(5))) && !keys.has(`paths.${camel(n.slice(11))}`));
    expect(unknown).toEqual([]);
  });
});
