/**
 * The README's real recipe, run as written (its config and command lines are read from README.md),
 * with the tiny ViT test config in place of ViT-H-14: its random weights are written as safetensors
 * into paths.weights, where `download-weights` would put real ones; the data are TFRecords of class
 * folders built with `guie build-records`. Train, export from the checkpoint alone, verify.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../lib/device';
import { classFolders, tinyVitWeights } from './helpers/photos';
import { ensureBuilt, ROOT } from './train/build';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guie-recipe-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function recipe(): { config: Record<string, unknown>; commands: string[] } {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### The real recipe'), readme.indexOf('## Layout'));
  const json = /```json\n\s*(\{.*\})\n\s*```/.exec(section);
  const bash = /```bash\n([\s\S]*?)```/.exec(section);
  if (!json || !bash) throw new Error('README real recipe: no ```json config or ```bash commands block');
  const commands = bash[1].split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter((l) => l.length > 0);
  return { config: JSON.parse(json[1]) as Record<string, unknown>, commands };
}

function guie(args: string, cwd: string): string {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/lib/cli.js'), ...args.split(/\s+/)], { cwd, encoding: 'utf8', env: { ...process.env, GUIE_PROGRESS: 'lines' } });
  if (r.status !== 0) throw new Error(`guie ${args} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return `${r.stdout}\n${r.stderr}`;
}

test("the README's real-recipe commands run verbatim with a tiny ViT in paths.weights", async () => {
  ensureBuilt();
  await initBackend();
  const { config, commands } = recipe();
  expect(config.backbone).toBe('ViT-H-14');
  expect(commands.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual(['npx guie train', 'npx guie export', 'npx guie verify-submission']);

  const weights = await tinyVitWeights(path.join(tmp, 'weights'), 4);
  const photos = path.join(tmp, 'photos');
  await classFolders(photos, 8, 4, 100, 64);
  const records = path.join(tmp, 'records');
  guie(`build-records folder ${photos} --out ${records} --shard-size 8`, tmp);

  const work = path.join(tmp, 'work');
  fs.mkdirSync(work);
  const paths = { ...(config.paths as Record<string, string>), data: records, weights, cache: path.join(tmp, 'cache') };
  fs.writeFileSync(path.join(work, 'cfg.json'), JSON.stringify({ ...config, backbone: 'test-tiny', paths }));
  const out: string[] = [];
  for (const c of commands) out.push(guie(c.replace(/^npx guie /, '').replace(/ViT-H-14/g, 'test-tiny'), work));
  expect(out[0]).toMatch(/split by record file: train \d+ images/);
  expect(out[0]).toMatch(/training done: /);
  expect(out[1]).toMatch(/SavedModel: outputs\/export\/saved_model/);
  expect(out[1]).not.toMatch(/random ViT weights/); // the weights came from paths.weights
  expect(out[2]).toMatch(/PASS/);
  const about = JSON.parse(fs.readFileSync(path.join(work, 'outputs', 'export', 'export.json'), 'utf8'));
  expect(about).toMatchObject({ backbone: 'test-tiny', preprocess: { imageSize: 32, resize: 'shortest_bicubic_crop' } });
}, 600_000);
