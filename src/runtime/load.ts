/**
 * Loading a denoiser in Node: a model.onnx path (or a checkpoint folder holding one) or its bytes,
 * an optional JSON config for a model exported elsewhere, bound to onnxruntime-node on CPU or CUDA.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveModelName } from '../core/node/package-files';
import { readFileLimited } from '../core/node/read-limits';
import { DiffusionError, FileFormatError } from '../core/errors';
import { configFromJson } from '../core/model-config';
import { cudaPreflight, explainCudaFailure } from './cuda';
import { DiffusionModel, OrtApi } from './model';
import { sessionOptions, type Device } from './node';
import { ortNode } from './ort-node';
import { mergedModel } from './lora-file';
import type { LoraAdapter } from '../nn/lora';
import { encodeModel } from '../onnx/proto';
import { fetchOk } from './sources';

export { sessionOptions };

export interface LoadModelOptions {
  /** Config of a model without onnx-diffusion metadata: a JSON file path or the parsed object. */
  config?: string | object;
  device?: Device;
  /** CUDA device ordinal (default 0). */
  deviceId?: number;
  /** Intra-op threads (default: the number of cores). */
  threads?: number;
  /** A LoRA adapter (file path or decoded) merged into the weights before the session is created. */
  lora?: string | LoraAdapter;
}

function readBytes(file: string, what: 'model' | 'config'): Buffer {
  return readFileLimited(file, what === 'model' ? 'onnx' : 'json', what);
}

/**
 * A model path: a file, a folder with model.onnx in it (a training checkpoint), or the name of a
 * model shipped in the package's models/ folder.
 */
export function resolveModelPath(file: string): string {
  file = resolveModelName(file);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new FileFormatError(file, 'no such file');
  }
  if (!stat.isDirectory()) return file;
  const inner = path.join(file, 'model.onnx');
  if (!fs.existsSync(inner)) throw new FileFormatError(file, 'is a directory without a model.onnx');
  return inner;
}

/** Reads a JSON config file; errors name the file. */
export function readConfigFile(file: string): unknown {
  const text = readBytes(file, 'config').toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(file, `invalid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** What Node's loadModel reads: a path or shipped model name, an http(s)/file URL, or the bytes. */
export type NodeModelSource = string | URL | Uint8Array | ArrayBuffer;

/** The model bytes and a name for messages. */
export async function readModelSource(src: NodeModelSource): Promise<{ bytes: Uint8Array; source: string }> {
  if (src instanceof Uint8Array) return { bytes: src, source: 'model' };
  if (src instanceof ArrayBuffer) return { bytes: new Uint8Array(src), source: 'model' };
  const url = src instanceof URL ? src : /^(https?|file):\/\//.test(src) ? new URL(src) : undefined;
  if (url === undefined) {
    const source = resolveModelPath(src as string);
    return { bytes: readBytes(source, 'model'), source };
  }
  if (url.protocol === 'file:') return readModelSource(fileURLToPath(url));
  // fetchOk names the URL and the network's cause or the HTTP status (not a bare "fetch failed").
  const res = await fetchOk(url.href);
  return { bytes: new Uint8Array(await res.arrayBuffer()), source: url.href };
}

/**
 * Loads a denoiser for sampling from a path, a shipped model name, a URL or the file's bytes. The
 * config comes from the file's metadata unless `config` is given (required for a foreign model
 * such as a torch.onnx.export).
 */
export async function loadModel(src: NodeModelSource, opts: LoadModelOptions = {}): Promise<DiffusionModel> {
  const read = await readModelSource(src);
  const source = read.source;
  let bytes = read.bytes;
  if (opts.lora !== undefined) bytes = encodeModel(mergedModel(bytes, source, opts.lora));
  const config = opts.config === undefined
    ? undefined
    : typeof opts.config === 'string'
      ? configFromJson(readConfigFile(opts.config), opts.config)
      : configFromJson(opts.config, 'config');
  const options = sessionOptions(opts);
  if (opts.device !== 'cuda') return DiffusionModel.create(ortNode() as unknown as OrtApi, bytes, { config, source, sessionOptions: options });
  // Name the missing library or driver before ORT fails with a generic message.
  cudaPreflight();
  try {
    return await DiffusionModel.create(ortNode() as unknown as OrtApi, bytes, { config, source, sessionOptions: options });
  } catch (e) {
    const why = explainCudaFailure((e as Error).message);
    throw why ? new DiffusionError(`${source}: ${why}`) : e;
  }
}
