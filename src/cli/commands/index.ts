import type { CommandModule } from 'yargs';
import { buildGraphCommand } from './build-graph';
import { inspectCommand } from './inspect';
import { trainCommand } from './train';

/** Every CLI command; each lives in its own file in this folder. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [buildGraphCommand, inspectCommand, trainCommand];
