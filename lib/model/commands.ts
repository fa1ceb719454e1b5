/** `guie summary` (and `summary --list`, the named configs) and `guie download-weights`: thin wrappers over summary.ts, backbones.ts and download.ts. */
import type { Command } from 'commander';
import { listBackbones, weightsPath, type BackboneInfo } from './backbones';
import { downloadWeights } from './download';
import { formatSummary, modelSummary, type ModelSummary } from './summary';
import { getVitConfig } from './vit-config';
import { intFlag } from '../util/int-flag';

export interface SummaryOptions {
  model: string;
  /** Keep the CLIP output projection (default true); the reference notebook's 630,848,064 is without it. */
  proj?: boolean;
  /** Embedding head width; 0 = backbone only. */
  dim?: number;
  imageSize?: number;
  patchStride?: number;
}

export function summaryCommand(opts: SummaryOptions): ModelSummary {
  const overrides = {
    ...(opts.proj === false ? { outputDim: null } : {}),
    ...(opts.imageSize ? { imageSize: opts.imageSize } : {}),
    ...(opts.patchStride ? { patchStride: opts.patchStride } : {}),
  };
  const dim = opts.dim ?? 64;
  return modelSummary(getVitConfig(opts.model, overrides), dim > 0 ? { dim } : null);
}

/** Every named config (lib/model/model_configs/), test ones included: what `guie summary --list` prints. */
export function configList(): BackboneInfo[] {
  return listBackbones({ includeTest: true });
}

export function formatConfigList(list: BackboneInfo[]): string {
  const cells = [['name', 'kind', 'image px', 'feature dim'], ...list.map((b) => [b.name, b.kind, String(b.preprocess.imageSize), String(b.featureDim)])];
  const widths = cells[0].map((_, i) => Math.max(...cells.map((c) => c[i].length)) + 2);
  return cells.map((c) => c.map((x, i) => (i >= 2 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join('').trimEnd()).join('\n');
}

export function register(program: Command): void {
  program
    .command('summary')
    .description('Keras-style summary of a CLIP ViT + Dropout/Dense/L2 head, computed from the config (no weights needed); --list: every named config')
    .option('--model <name>', 'ViT config name (a clip-vit file in lib/model/model_configs/)', 'ViT-H-14')
    .option('--list', 'list every named config (lib/model/model_configs/): name, kind, image size, feature width')
    .option('--no-proj', 'drop the CLIP output projection (the reference notebook: 1280-d ViT-H features)')
    .option('--dim <n>', 'embedding width; 0 = backbone only', intFlag('--dim'), 64)
    .option('--image-size <px>', 'input size (positional embedding is resampled when loading)', intFlag('--image-size', 1))
    .option('--patch-stride <px>', 'patch stride (< patch size: overlapping patches)', intFlag('--patch-stride', 1))
    .option('--json', 'print JSON')
    .action((o: { model: string; proj: boolean; dim: number; imageSize?: number; patchStride?: number; json?: boolean; list?: boolean }) => {
      if (o.list) {
        const list = configList();
        console.log(o.json ? JSON.stringify(list.map(({ name, kind, preprocess, featureDim }) => ({ name, kind, imageSize: preprocess.imageSize, featureDim })), null, 2) : formatConfigList(list));
        return;
      }
      const s = summaryCommand({ model: o.model, proj: o.proj, dim: o.dim, imageSize: o.imageSize, patchStride: o.patchStride });
      console.log(o.json ? JSON.stringify(s, null, 2) : formatSummary(s));
    });

  program
    .command('download-weights')
    .description('download pretrained CLIP weights (safetensors) from the Hugging Face hub; resumes an interrupted download')
    .option('--model <name>', 'config name with known weights (lib/model/download.ts PRETRAINED)', 'ViT-H-14')
    .option('--out <file>', 'destination (default <paths.weights>/<model>.safetensors, where backbones look for it)')
    .option('--url <url>', 'download from this URL instead of the hub')
    .action(async (o: { model: string; out?: string; url?: string }) => {
      const dest = await downloadWeights({ model: o.model, dest: o.out ?? weightsPath(o.model), url: o.url });
      console.log(`weights: ${dest}`);
    });
}
