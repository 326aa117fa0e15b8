import type { Argv, CommandModule } from 'yargs';
import { buildGraphCommand } from './build-graph';
import { datasetCommand } from './dataset';
import { doctorCommand } from './doctor';
import { evaluateCommand } from './evaluate';
import { exportCommand } from './export';
import { forwardCommand } from './forward';
import { inspectCommand } from './inspect';
import { installCudaCommand } from './install-cuda';
import { sampleCommand } from './sample';
import { trainCommand } from './train';
import { trainExpertsCommand } from './train-experts';

/** Registers one command module, keeping its own argument types. */
function add<A>(c: CommandModule<object, A>): (y: Argv<object>) => Argv<object> {
  return (y) => y.command(c);
}

/** Every CLI command; each lives in its own file in this folder. */
export const commands = [
  add(buildGraphCommand), add(inspectCommand), add(trainCommand), add(sampleCommand), add(evaluateCommand), add(datasetCommand),
  add(forwardCommand), add(doctorCommand), add(installCudaCommand), add(trainExpertsCommand),
  add(exportCommand),
];
