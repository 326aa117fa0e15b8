import type { Argv, CommandModule } from 'yargs';
import { trainExperts } from '../../train/experts';
import { DiffusionError } from '../../core/errors';
import { checkSeed } from '../flags';

interface Args {
  recipe?: string;
  from?: string;
  config?: string;
  experts: number;
  data?: string;
  steps?: number;
  batch?: number;
  lr?: number;
  seed?: number;
  threads?: number;
  device?: string;
  out: string;
  overwrite?: boolean;
}

function positive(name: string, v: number | undefined, integer = true): void {
  if (v === undefined) return;
  if (!(Number.isFinite(v) && v > 0 && (!integer || Number.isInteger(v)))) throw new DiffusionError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`);
}

export const trainExpertsCommand: CommandModule<object, Args> = {
  command: 'train-experts',
  describe: 'Train an ensemble of N experts on equal timestep ranges and write OUT/experts.json',
  builder: (y: Argv<object>) =>
    y
      .option('recipe', { type: 'string', describe: 'Recipe JSON for fresh experts' })
      .option('from', { type: 'string', describe: 'model.onnx every expert is fine-tuned from (instead of --recipe)' })
      .option('config', { type: 'string', describe: 'JSON config for a --from model without onnx-diffusion metadata' })
      .option('experts', { type: 'number', demandOption: true, describe: 'Number of experts (equal timestep ranges)' })
      .option('data', { type: 'string', describe: 'Data spec, as train --data (default fashion-mnist:full where Debian\'s dataset-fashion-mnist is installed, else the embedded fashion-mnist)' })
      .option('steps', { type: 'number', describe: 'Optimisation steps per expert (default 2000)' })
      .option('batch', { type: 'number', describe: 'Images per step (default 64)' })
      .option('lr', { type: 'number', describe: 'Peak learning rate (default 1e-3)' })
      .option('seed', { type: 'number', describe: 'Seed (default 0)' })
      .option('threads', { type: 'number', describe: 'Intra-op threads (default: all cores)' })
      .option('device', { choices: ['cpu', 'cuda'], describe: 'Execution provider (default cpu)' })
      .option('out', { type: 'string', demandOption: true, describe: 'Output folder: OUT/expert-k/ and OUT/experts.json' })
      .option('overwrite', { type: 'boolean', describe: 'Replace expert runs already in OUT' }),
  handler: async (a) => {
    positive('experts', a.experts);
    positive('steps', a.steps);
    positive('batch', a.batch);
    positive('lr', a.lr, false);
    positive('threads', a.threads);
    checkSeed(a.seed);
    if (a.recipe === undefined && a.from === undefined) throw new DiffusionError('give --recipe (fresh experts) or --from model.onnx (fine-tuned experts)');
    if (a.config !== undefined && a.from === undefined) throw new DiffusionError('--config needs --from');
    const controller = new AbortController();
    const onSigint = () => {
      if (controller.signal.aborted) process.exit(130);
      process.stderr.write('\ninterrupt: saving this expert after this step (Ctrl-C again to quit now)\n');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    try {
      const r = await trainExperts({
        recipe: a.recipe, init: a.from, config: a.config, experts: a.experts, data: a.data, steps: a.steps, batch: a.batch,
        lr: a.lr, seed: a.seed, threads: a.threads, device: a.device as 'cpu' | 'cuda' | undefined, out: a.out, overwrite: a.overwrite, signal: controller.signal,
        onStep: (k, s) => {
          if (s.step % 50 === 0 || s.step === s.totalSteps) process.stderr.write(`expert ${k} (${k + 1} of ${a.experts}): step ${s.step}/${s.totalSteps}  loss ${s.loss.toFixed(4)}\n`);
        },
      });
      r.spec.experts.forEach((e, k) => {
        const losses = r.results[k].losses.slice(-50);
        const mean = losses.reduce((s, x) => s + x, 0) / Math.max(1, losses.length);
        process.stdout.write(`expert ${k}: t ${e.tRange[0]}:${e.tRange[1]}, ${r.results[k].steps} steps, mean loss of the last ${losses.length} ${mean.toFixed(4)} -> ${a.out}/${e.model}\n`);
      });
      if (r.spec.experts.length === a.experts) process.stdout.write(`wrote ${r.file}\n`);
      else process.stdout.write(`interrupted after ${r.spec.experts.length} of ${a.experts} experts; no experts.json written\n`);
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
