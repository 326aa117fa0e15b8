import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { DiffusionError } from '../../core/errors';
import { writeFileAtomic } from '../../core/node/atomic-file';
import { countFlops, countParams } from '../../nn';
import { encodeModel } from '../../onnx/proto';
import { buildStepGraph } from '../../train/step-graph';
import { estimateStepMemory } from '../../train/step-memory';
import { setupModel } from '../../train/trainer';

interface Args {
  recipe?: string;
  from?: string;
  config?: string;
  out: string;
  train?: boolean;
  optimizer: string;
  batch?: number;
  seed?: number;
  trainable?: string;
  'weight-decay'?: number;
  'min-snr'?: number;
  recompute?: boolean;
}

export const buildGraphCommand: CommandModule<object, Args> = {
  command: 'build-graph',
  describe: 'Write DIR/model.onnx from a recipe (seeded random weights) and optionally its training-step graph',
  builder: (y: Argv<object>) =>
    y
      .option('recipe', { type: 'string', describe: 'Recipe JSON file, or a shipped recipe by name (unet-tiny, unet-fashion-mnist, ...)' })
      .option('from', { type: 'string', describe: 'Build the step graph for an existing model.onnx instead' })
      .option('config', { type: 'string', describe: 'JSON config for a --from model without onnx-diffusion metadata' })
      .option('out', { type: 'string', demandOption: true, describe: 'Output directory' })
      .option('train', { type: 'boolean', describe: 'Also write DIR/train-step.onnx' })
      .option('optimizer', { choices: ['adamw', 'none'], default: 'adamw', describe: "'none' writes the gradient graph (loss + grad/<param>)" })
      .option('batch', { type: 'number', describe: 'Fix the batch dim of the step graph (default symbolic N)' })
      .option('seed', { type: 'number', describe: 'Initialisation seed (default: the recipe seed)' })
      .option('trainable', { type: 'string', describe: 'Globs of parameters that train (default all)' })
      .option('weight-decay', { type: 'number', describe: 'AdamW weight decay baked into the step (default 0)' })
      .option('min-snr', { type: 'number', describe: 'Min-SNR-gamma loss weighting' })
      .option('recompute', { type: 'boolean', describe: 'Recompute block activations in the backward pass (gradient checkpointing)' }),
  handler: async (a) => {
    if (!a.recipe && !a.from) throw new DiffusionError('give --recipe FILE or --from model.onnx');
    if (a.batch !== undefined && !(Number.isInteger(a.batch) && a.batch > 0)) throw new DiffusionError(`--batch must be a positive integer, got ${a.batch}`);
    // A foreign model's dims are pinned to the batch (1 unless given); the step graph uses the same.
    const setup = setupModel({ recipe: a.recipe, init: a.from, config: a.config, seed: a.seed, batch: a.batch ?? (a.from ? 1 : undefined) });
    mkdirSync(a.out, { recursive: true });
    const lines: string[] = [];
    if (!a.from) {
      await writeFileAtomic(join(a.out, 'model.onnx'), encodeModel(setup.model));
      lines.push(`${join(a.out, 'model.onnx')}: ${countParams(setup.model).toLocaleString('en-US')} parameters, ${(countFlops(setup.model, 1) / 1e9).toFixed(3)} GFLOP per image (forward)`);
    }
    if (a.train || a.from || a.optimizer === 'none') {
      const step = buildStepGraph(setup.trainModel, setup.config, {
        optimizer: a.optimizer as 'adamw' | 'none', batch: a.batch ?? setup.batch, trainable: a.trainable,
        adamw: { weightDecay: a['weight-decay'] ?? 0 }, minSnrGamma: a['min-snr'], recompute: a.recompute,
      });
      const file = join(a.out, a.optimizer === 'none' ? 'grad.onnx' : 'train-step.onnx');
      await writeFileAtomic(file, encodeModel(step.model));
      const batch = a.batch ?? setup.batch;
      // With a static batch, the step's peak memory as estimated from its shapes (step-memory.ts).
      const batchInputs = ['x0', 'noise', 'xt', 'target', 't', ...step.extraInputs];
      const gib = batch !== undefined ? estimateStepMemory(step.model.graph, batch, batchInputs).bytes / 2 ** 30 : 0;
      const memory = batch !== undefined ? `, about ${gib.toFixed(2)} GiB per step at batch ${batch}` : '';
      const values = step.layout.total.toLocaleString('en-US');
      lines.push(`${file}: ${step.model.graph.nodes.length} nodes, ${step.layout.slots.length} trainable tensors (${values} values)${memory}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
