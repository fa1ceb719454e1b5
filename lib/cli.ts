#!/usr/bin/env node
/** `guie <command>`: thin wrappers over lib/ — the notebook cells and these commands call the same functions. */
import { Command } from 'commander';
import * as path from 'path';
import { deviceReport, formatDeviceReport } from './device';
import { listNotebooks, runNotebooks, NotebookError } from './notebooks';
import { PROJECT_ROOT } from './util/paths';
import { mainJobCommand } from './main-job';
import { register as registerData } from './data/commands';
import { register as registerModel } from './model/commands';
import { register as registerTrain } from './train/commands';
import { register as registerRetrieval } from './retrieval/commands';
import { register as registerExport } from './export/commands';
import { register as registerJig } from './jig/commands';

export function buildProgram(): Command {
  const program = new Command('guie').description('GUIE-TS: universal image embeddings — data, model, training, evaluation, export, jig').showHelpAfterError();

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
    .description('the main job on the bundled default: sample data -> backbone features -> head training -> evaluation -> export -> submission.zip -> verify -> jig report')
    .option('--config <file>', 'JSON config (see lib/config.ts)')
    .option('--out <dir>', 'run folder (default <paths.outputs>/run)')
    .action(async (opts: { config?: string; out?: string }) => {
      await mainJobCommand(opts);
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
  registerModel(program);
  registerTrain(program);
  registerRetrieval(program);
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
