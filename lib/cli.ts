#!/usr/bin/env node
/** `guie <command>`: thin wrappers over lib/ — the notebook cells and these commands call the same functions. */
import { Command } from 'commander';
import * as path from 'path';
import { deviceReport, formatDeviceReport } from './device';
import { listNotebooks, runNotebooks, NotebookError } from './notebooks';
import { PROJECT_ROOT } from './util/paths';
import { mainJobCommand } from './main-job';
import { describeConfig, loadConfig } from './config';
import { loadModel } from './model-loader';
import { register as registerData } from './data/commands';
import { register as registerPhotos } from './data/photos/commands';
import { register as registerModel } from './model/commands';
import { register as registerTrain } from './train/commands';
import { register as registerRetrieval } from './retrieval/commands';
import { register as registerExport } from './export/commands';
import { register as registerJig } from './jig/commands';

export function buildProgram(): Command {
  const program = new Command('guie').description('GUIE-TS: universal image embeddings — data, model, training, evaluation, export, jig').showHelpAfterError();
  program
    .option('--verbose', "also show the native libraries' own output: TensorFlow's load banner and C++ INFO logs (same as GUIE_VERBOSE=1)")
    .hook('preAction', (p) => {
      // read where the backend loads (lib/device.ts), after this hook: every command's first native call comes later
      if (p.opts<{ verbose?: boolean }>().verbose) process.env.GUIE_VERBOSE = '1';
    });

  program
    .command('device')
    .description('choose the TensorFlow.js backend and report devices, memory, versions and matmul speed')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      const report = await deviceReport();
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatDeviceReport(report));
    });

  program
    .command('run')
    .description('the main job: data -> records -> split -> backbone features -> head training -> backbone stage (backboneEpochs) -> held-out evaluation per domain beside training-free baselines (+ leave-one-domain-out on multi-domain data) -> export -> submission.zip -> verify -> jig report, into one run folder')
    .option('--data <dir>', 'your photos as class folders (<dir>/<class>/<image>) or a folder of TFRecords (default: config paths.data; empty = the bundled sample: npm-shipped photos plus the Debian collections of guie fetch-photos, fetched first unless GUIE_OFFLINE=1)')
    .option('--split <kind>', 'held-out evaluation: classes (whole classes, default) | images (images within each class) | files (record files)')
    .option('--config <file>', 'JSON config (`guie config --list` shows every key)')
    .option('--out <dir>', 'run folder (default <paths.outputs>/run)')
    .option('--skip-bad', 'leave out records that are malformed or whose image does not decode, each named, and go on (config "skipBad"; default: fail on the first)')
    .action(async (opts: { config?: string; data?: string; out?: string; split?: string; skipBad?: boolean }) => {
      await mainJobCommand(opts);
    });

  program
    .command('config')
    .description('print the resolved configuration (defaults <- --config file <- GUIE_* variables), or every key with its default and meaning')
    .option('--config <file>', 'JSON config file')
    .option('--list', 'every key, its default and what it does')
    .action((opts: { config?: string; list?: boolean }) => {
      console.log(opts.list ? `Config keys (JSON file via --config or GUIE_CONFIG; GUIE_<KEY> variables override, e.g. GUIE_BATCH_SIZE=8, GUIE_PATHS_DATA=/photos):\n${describeConfig()}` : JSON.stringify(loadConfig(opts.config), null, 2));
    });

  program
    .command('notebooks')
    .description('execute notebooks in order with the tslab kernel; stop at the first failing cell')
    .argument('[files...]', 'notebooks to run (default: every notebooks/*.ipynb)')
    .option('--out <dir>', 'folder for executed copies', path.join(PROJECT_ROOT, 'outputs', 'notebooks'))
    .option('--timeout <s>', 'per-cell timeout in seconds (0 = none)', '900')
    .action((files: string[], opts: { out: string; timeout: string }) => {
      const list = files.length > 0 ? files.map((f) => path.resolve(f)) : listNotebooks(path.join(PROJECT_ROOT, 'notebooks'));
      try {
        const results = runNotebooks(list, { outDir: opts.out, timeoutS: Number(opts.timeout) });
        console.log(`${results.length} notebooks executed, 0 failed`);
      } catch (e) {
        if (e instanceof NotebookError) {
          console.error(`notebook failed: ${e.message}\nexecuted copy: ${e.result.output}`);
          process.exitCode = 1;
          return;
        }
        throw e;
      }
    });

  // one register() per stage, in notebook order: data, model, training, evaluation, export, jig
  registerData(program);
  registerPhotos(program);
  registerModel(program);
  registerTrain(program);
  registerRetrieval(program, (m) => loadModel(m), () => path.resolve(PROJECT_ROOT, loadConfig().paths.cache, 'eval'));
  registerExport(program);
  registerJig(program);
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      console.error(`guie: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    });
}
