/**
 * The `sextant` command line. Each subcommand lives in its own file and returns data; this file
 * wires them to `commander` and does the printing.
 */
import { Command } from 'commander';
import { doctorReport, formatDoctorReport, packageVersion } from './doctor.js';
import { registerEvalCommand } from './eval.js';
import { registerImportanceCommand } from './importance.js';
import { registerRunsCommands } from './runs.js';
import { registerScalingCommands } from './scaling.js';
import { registerTrainCommands } from './train.js';

/** The program with all its subcommands; `main` parses `process.argv` with it. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('sextant')
    .description(
      'A workbench for the science of deep learning: train networks, look inside them,\n' +
        'and run studies end to end.',
    )
    .version(packageVersion(), '-V, --version', 'print the version of sextant')
    .helpOption('-h, --help', 'show help for a command')
    .showHelpAfterError('(run `sextant --help` for the list of commands)')
    .addHelpText(
      'after',
      [
        '',
        'Environment:',
        '  SEXTANT_BACKEND   js | native   force a backend (default: native when it loads)',
        '  SEXTANT_THREADS   n             threads for the native kernels (default: all cores)',
        '  SEXTANT_RUNS      dir           the run store folder (default: ./runs)',
        '',
        'Examples:',
        '  $ sextant doctor            what sextant runs on here',
        '  $ sextant doctor --json     the same, as one JSON object for a bug report',
        '  $ sextant train lm          train a small GPT on Moby Dick and write its report',
        '  $ sextant eval <run> --data f.txt   evaluate a saved model on new data',
        '  $ sextant runs ls           the runs in the run store, newest first',
      ].join('\n'),
    );

  program
    .command('doctor')
    .description('show the backend, BLAS, threads and machine sextant runs on')
    .option('--json', 'print exactly one JSON object instead of text')
    .action((options: { json?: boolean }) => {
      const report = doctorReport();
      process.stdout.write(
        options.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report),
      );
      if (report.backend === null) process.exitCode = 1;
    });

  registerTrainCommands(program);
  registerEvalCommand(program);
  registerRunsCommands(program);
  registerScalingCommands(program);
  registerImportanceCommand(program);

  return program;
}

/** Runs the command line on `argv` (as `process.argv`: node, script, then arguments). */
export async function main(argv: readonly string[] = process.argv): Promise<void> {
  await buildProgram().parseAsync([...argv]);
}
