import type { CommandModule } from 'yargs';
import { buildGraphCommand } from './build-graph';
import { datasetCommand } from './dataset';
import { doctorCommand } from './doctor';
import { forwardCommand } from './forward';
import { inspectCommand } from './inspect';
import { installCudaCommand } from './install-cuda';
import { sampleCommand } from './sample';
import { trainCommand } from './train';
import { trainExpertsCommand } from './train-experts';

/** Every CLI command; each lives in its own file in this folder. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [buildGraphCommand, inspectCommand, trainCommand, sampleCommand, datasetCommand, forwardCommand, doctorCommand, installCudaCommand, trainExpertsCommand];
