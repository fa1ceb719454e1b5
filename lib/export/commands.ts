/** CLI wiring for the export stage: `guie export`, `guie verify-submission <zip>`. */
import type { Command } from 'commander';
import * as path from 'path';
import { loadConfig } from '../config';
import { initBackend } from '../device';
import { PROJECT_ROOT } from '../util/paths';
import { intFlag } from '../util/int-flag';
import { exportCommand, formatExportResult, formatVerifyReport, verifyCommand } from './export-model';

export function register(program: Command): void {
  program
    .command('export')
    .description('build the inference graph (uint8 image -> 64-d unit embedding) and write SavedModel, ONNX and submission.zip')
    .option('--backbone <name>', "packaged CNN (mobilenet_v2_140, inception_v3_mixed5) or CLIP ViT config name (default: the checkpoint's backbone, else mobilenet_v2_140)")
    .option('--config <file>', 'JSON config: paths.weights is where ViT weights are found (<paths.weights>/<backbone>.safetensors)')
    .option('--vit-weights <file>', 'CLIP ViT weights (.safetensors; OpenCLIP, Hugging Face or bare layout)')
    .option('--checkpoint <dir>', 'the trained head: a checkpoint, or a run / train folder (its checkpoints/best); it records its backbone')
    .option('--out <dir>', 'output folder', 'outputs/export')
    .option('--random-seed <n>', 'seed for weights not given by a file (random ViT / head: offline path)', intFlag('--random-seed', -Infinity), 0)
    .option('--head-dim <n>', 'embedding width', intFlag('--head-dim', 1), 64)
    .option('--resize <mode>', "CLIP ViTs: in-graph resize, shortest_bicubic_crop (CLIP eval, the backbone's own: default) or bilinear (host baseline)")
    .option('--no-onnx', 'skip the ONNX file')
    .option('--verify', 'verify the zip after writing it')
    .action(async (o: { config?: string; backbone?: string; vitWeights?: string; checkpoint?: string; out: string; randomSeed: number; headDim: number; resize?: string; onnx: boolean; verify?: boolean }) => {
      await initBackend();
      if (o.resize !== undefined && o.resize !== 'bilinear' && o.resize !== 'shortest_bicubic_crop') throw new Error(`--resize ${o.resize}: choose bilinear or shortest_bicubic_crop`);
      const weightsDir = path.resolve(PROJECT_ROOT, loadConfig(o.config).paths.weights);
      const { result, report } = await exportCommand({ ...o, weightsDir, resize: o.resize });
      console.log(formatExportResult(result));
      if (report) {
        console.log(formatVerifyReport(report));
        if (!report.ok) process.exitCode = 1;
      }
    });

  program
    .command('verify-submission')
    .description('unpack a submission.zip (bounded: SavedModel entries only, a size budget), load its SavedModel and run it on tiny, huge, grayscale and non-square images')
    .argument('<zip>', 'submission zip')
    .option('--json', 'print the report as JSON')
    .option('--max-mib <n>', 'most MiB the zip may expand to (default 4096; never more than 20x the zip + 64 MiB: weights barely compress, a bigger ratio is a zip bomb)')
    .action(async (zip: string, o: { json?: boolean; maxMib?: string }) => {
      await initBackend();
      const mib = o.maxMib === undefined ? undefined : Number(o.maxMib);
      if (mib !== undefined && !(mib > 0)) throw new Error(`--max-mib ${o.maxMib}: give a positive number of MiB`);
      const report = await verifyCommand(zip, { maxBytes: mib === undefined ? undefined : mib * 2 ** 20 });
      console.log(o.json ? JSON.stringify(report, null, 2) : formatVerifyReport(report));
      if (!report.ok) process.exitCode = 1;
    });
}
