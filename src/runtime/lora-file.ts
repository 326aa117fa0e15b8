/**
 * LoRA adapters on disk, in Node: merge an adapter file into a model.onnx (`sample --lora`,
 * `loadModel(path, {lora})`), or fold a checkpoint's in-graph adapters into its weights
 * (`export --merge`). The merged model has the base model's inputs, outputs and nodes.
 */
import { upcastModel } from '../onnx/upcast';
import { readFileLimited } from '../core/node/read-limits';
import { DiffusionError, FileFormatError } from '../core/errors';
import { configFromJson, writeModelConfig } from '../core/model-config';
import { decodeAdapter, LoraAdapter, loraSpecOf, mergeLora } from '../nn/lora';
import { Model } from '../onnx/ir';
import { decodeModel } from '../onnx/proto';
import { fullPrecisionWeights } from '../onnx/fp16';

/** Bounded, regular files only (a FIFO or /dev/zero is refused without reading). */
function read(file: string, what: string, kind: 'adapter' | 'config'): Buffer {
  return readFileLimited(file, kind, what);
}

/**
 * Reads an adapter file: ours (`train --lora`), or a diffusers, peft or kohya LoRA safetensors,
 * which is matched by module name to `model`'s layers (nn/lora-keys.ts).
 */
export function readAdapterFile(file: string, model?: Model): LoraAdapter {
  return decodeAdapter(read(file, 'LoRA adapter', 'adapter'), file, model?.graph);
}

/**
 * The model with adapters folded into its weights: `adapter` (a file or an object) merged into a
 * base model, or, with no adapter, the model's own in-graph adapters. A JSON `config` (foreign
 * models) is written into the merged model's metadata, so it samples without one.
 */
export function mergedModel(model: Model | Uint8Array, source: string, adapter?: string | LoraAdapter, config?: string | object): Model {
  // float16 weights (the project's half storage, or a float16 export) are merged as float32
  const m = upcastModel(fullPrecisionWeights(model instanceof Uint8Array ? decodeModel(model, source) : model));
  if (config !== undefined) {
    const obj = typeof config === 'string' ? JSON.parse(read(config, 'config', 'config').toString('utf8')) as unknown : config;
    writeModelConfig(m.metadata, configFromJson(obj, typeof config === 'string' ? config : 'config'));
  }
  if (adapter === undefined && !loraSpecOf(m)) throw new FileFormatError(source, 'carries no LoRA adapters; give the adapter file (the `lora` option: adapter.safetensors)');
  if (typeof adapter !== 'string') return mergeLora(m, adapter);
  const a = readAdapterFile(adapter, m);
  try {
    return mergeLora(m, a);
  } catch (e) {
    // An adapter that does not fit the model: say which adapter file.
    if (e instanceof DiffusionError && !e.message.includes(adapter)) throw new FileFormatError(adapter, `does not fit ${source}: ${e.message}`);
    throw e;
  }
}
