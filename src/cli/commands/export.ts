import { readFileLimited } from '../../core/node/read-limits';
import type { CommandModule } from 'yargs';
import { DiffusionError, OptionError } from '../../core/errors';
import { writeFileAtomic } from '../../image/atomic';
import { decodeModel, encodeModel } from '../../onnx/proto';
import { fullPrecisionWeights, halfPrecisionWeights } from '../../onnx/fp16';
import type { Model } from '../../onnx/ir';
import { configFromJson, writeModelConfig } from '../../core/model-config';
import { readConfigFile, resolveModelPath } from '../../runtime/load';
import { mergedModel } from '../../runtime/lora-file';

interface Args {
  model: string;
  lora?: string;
  config?: string;
  merge?: boolean;
  fp16?: boolean;
  out: string;
}

/** `export --merge`: a model.onnx with LoRA adapters folded into its weights (same inputs and outputs as the base). */
export const exportCommand: CommandModule<object, Args> = {
  command: 'export',
  describe: 'Write a deployable model.onnx: --merge folds LoRA adapters (in-graph, or --lora FILE) into the weights; --fp16 stores the weights as float16 (half the file, float32 compute)',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model.onnx or a checkpoint folder (a train --lora run, or a base model with --lora FILE)' })
      .option('lora', { type: 'string', describe: 'Adapter file (adapter.safetensors) to merge into a base model' })
      .option('config', { type: 'string', describe: 'JSON config of a foreign base model (written into the merged file\'s metadata)' })
      .option('merge', { type: 'boolean', describe: 'Fold the adapters into the weights' })
      .option('fp16', { type: 'boolean', describe: 'Store weights as float16 with a Cast back to float32 (about half the file size; computation stays float32)' })
      .option('out', { type: 'string', demandOption: true, describe: 'Output model.onnx' }),
  handler: async (a) => {
    if (!a.merge && !a.fp16) throw new DiffusionError('export needs --merge (fold LoRA adapters into the weights), --fp16 (store the weights as float16), or both');
    if (!a.merge && a.lora !== undefined) throw new OptionError('lora', 'only used with --merge');
    const file = resolveModelPath(a.model);
    const bytesIn = readFileLimited(file, 'onnx', 'model file');
    let merged = a.merge ? mergedModel(bytesIn, file, a.lora, a.config) : withConfig(decodeModel(bytesIn, file), a.config);
    if (a.fp16) merged = halfPrecisionWeights(fullPrecisionWeights(merged)).model;
    const bytes = encodeModel(merged);
    await writeFileAtomic(a.out, bytes);
    const inputs = merged.graph.inputs.map((i) => i.name).join(', ');
    process.stdout.write(`wrote ${a.out} (${bytes.length.toLocaleString('en-US')} bytes; inputs ${inputs}; outputs ${merged.graph.outputs.map((o) => o.name).join(', ')})\n`);
  },
};

/** A foreign model's JSON config written into its metadata, so the exported file samples without one. */
function withConfig(model: Model, config: string | undefined): Model {
  if (config !== undefined) writeModelConfig(model.metadata, configFromJson(readConfigFile(config), config));
  return model;
}
