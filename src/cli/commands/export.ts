import * as fs from 'node:fs';
import type { CommandModule } from 'yargs';
import { DiffusionError } from '../../core/errors';
import { writeFileAtomic } from '../../image/atomic';
import { encodeModel } from '../../onnx/proto';
import { resolveModelPath } from '../../runtime/load';
import { mergedModel } from '../../runtime/lora-file';

interface Args {
  model: string;
  lora?: string;
  config?: string;
  merge?: boolean;
  out: string;
}

/** `export --merge`: a model.onnx with LoRA adapters folded into its weights (same inputs and outputs as the base). */
export const exportCommand: CommandModule<object, Args> = {
  command: 'export',
  describe: 'Write a deployable model.onnx: --merge folds LoRA adapters (in-graph, or --lora FILE) into the weights',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model.onnx or a checkpoint folder (a train --lora run, or a base model with --lora FILE)' })
      .option('lora', { type: 'string', describe: 'Adapter file (adapter.safetensors) to merge into a base model' })
      .option('config', { type: 'string', describe: 'JSON config of a foreign base model (written into the merged file\'s metadata)' })
      .option('merge', { type: 'boolean', describe: 'Fold the adapters into the weights (the one export mode today)' })
      .option('out', { type: 'string', demandOption: true, describe: 'Output model.onnx' }),
  handler: async (a) => {
    if (!a.merge) throw new DiffusionError('export needs --merge (fold LoRA adapters into the weights; the only export mode today)');
    const file = resolveModelPath(a.model);
    const merged = mergedModel(fs.readFileSync(file), file, a.lora, a.config);
    const bytes = encodeModel(merged);
    await writeFileAtomic(a.out, bytes);
    const inputs = merged.graph.inputs.map((i) => i.name).join(', ');
    process.stdout.write(`wrote ${a.out} (${bytes.length.toLocaleString('en-US')} bytes; inputs ${inputs}; outputs ${merged.graph.outputs.map((o) => o.name).join(', ')})\n`);
  },
};
