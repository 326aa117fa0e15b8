/**
 * `pipeline(dir, { lora })` for a diffusers ONNX folder: the adapter (a file, or an object) merged
 * into unet/model.onnx's weights (W + (alpha / rank) B A, nn/lora.ts), read with its external
 * data; the pipeline then runs the merged UNet like the folder's own.
 */
import * as path from 'node:path';
import type { LoraAdapter } from '../nn/lora';
import { encodeModel } from '../onnx/proto';
import { mergedModel } from './lora-file';
import { readModelFiles } from './model-files';

/** unet/model.onnx of `dir` with `lora` merged into its weights, as ONNX bytes (weights inline). */
export function unetWithLora(dir: string, lora: string | LoraAdapter): Uint8Array {
  const file = path.join(dir, 'unet', 'model.onnx');
  // Bounded read; external data from the model's own folder only (runtime/model-files.ts).
  return encodeModel(mergedModel(readModelFiles(file), file, lora));
}
