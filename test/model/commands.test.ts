/** `guie summary` / `guie download-weights` through commander, as the CLI will call them. */
import { Command } from 'commander';
import { register } from '../../lib/model/commands';

async function run(args: string[]): Promise<string> {
  const program = new Command('guie').exitOverride();
  register(program);
  const lines: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(s));
  try {
    await program.parseAsync(['node', 'guie', ...args]);
  } finally {
    log.mockRestore();
  }
  return lines.join('\n');
}

test('guie summary --model ViT-H-14 --no-proj prints the reference notebook counts', async () => {
  const text = await run(['summary', '--model', 'ViT-H-14', '--no-proj']);
  expect(text).toMatch(/Total params: 630,848,064/);
  expect(text).toMatch(/Backbone params: 630,766,080/);
  const json = JSON.parse(await run(['summary', '--model', 'ViT-L-14', '--dim', '0', '--json'])) as { totalParams: number; rows: unknown[] };
  expect(json.rows.length).toBe(4 + 24 + 2); // input, conv1, embeddings, ln_pre, 24 blocks, ln_post, proj
  expect(json.totalParams).toBe(303_966_208); // sum of numel over open_clip VisionTransformer(224, 14, 1024, 24, 16, output_dim=768).parameters()
});

test('guie download-weights reports an unreachable host', async () => {
  await expect(run(['download-weights', '--model', 'ViT-B-32', '--out', '/tmp/guie-never/x.safetensors', '--url', 'http://127.0.0.1:9/x.safetensors'])).rejects.toThrow(
    /cannot download ViT-B-32 weights from http:\/\/127\.0\.0\.1:9\/x\.safetensors/,
  );
});
