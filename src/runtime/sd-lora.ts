/**
 * `pipeline(dir, { lora })` for a diffusers ONNX folder: the adapter (a file, or an object) merged
 * into unet/model.onnx's weights (W + (alpha / rank) B A, nn/lora.ts), read with its external
 * data; the pipeline then runs the merged UNet like the folder's own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileFormatError } from '../core/errors';
import { folderFiles } from '../core/node/external-files';
import type { LoraAdapter } from '../nn/lora';
import { decodeModelWithExternalData } from '../onnx/external-data-read';
import { encodeModel } from '../onnx/proto';
import { mergedModel } from './lora-file';

/** unet/model.onnx of `dir` with `lora` merged into its weights, as ONNX bytes (weights inline). */
export function unetWithLora(dir: string, lora: string | LoraAdapter): Uint8Array {
  const file = path.join(dir, 'unet', 'model.onnx');
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new FileFormatError(file, `cannot read it (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message})`);
  }
  const model = decodeModelWithExternalData(bytes, file, folderFiles(path.dirname(file)));
  return encodeModel(mergedModel(model, file, lora));
}
