#!/usr/bin/env node
import yargs, { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { setOrtLogging } from '../runtime/node';
import { commands } from './commands';
import { reportError } from './errors';
import { joinNegativeValues } from './flags';

/** The `onnx-diffusion` command line: one yargs command per file in ./commands. */
export async function main(argv: string[]): Promise<void> {
  const verbose = argv.includes('--verbose');
  setOrtLogging(verbose);
  const cli = yargs(joinNegativeValues(argv))
    .scriptName('onnx-diffusion')
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .usage('$0 <command> [options]\n\nBuild, train and sample image diffusion models as ONNX graphs.')
    .option('verbose', { type: 'boolean', describe: 'Show stack traces on errors', global: true })
    .strict()
    .demandCommand(1, 'name a command (see --help)')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(msg);
    });
  let withCommands: Argv<object> = cli;
  for (const register of commands) withCommands = register(withCommands);
  try {
    await withCommands.parseAsync();
  } catch (e) {
    process.exitCode = reportError(e, verbose);
  }
}

class UsageError extends Error {}

if (require.main === module) {
  void main(hideBin(process.argv));
}
