/**
 * Loading a denoiser in Node: a model.onnx path (or a checkpoint folder holding one) or its bytes,
 * an optional JSON config for a model exported elsewhere, bound to onnxruntime-node on CPU or CUDA.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveModelName } from '../core/node/package-files';
import { readFileLimited } from '../core/node/read-limits';
import { DiffusionError, FileFormatError } from '../core/errors';
import { configFromJson, ModelConfig, readModelConfig } from '../core/model-config';
import { cudaPreflight, explainCudaFailure } from './cuda';
import { DiffusionModel, OrtApi } from './model';
import { sessionOptions, type Device } from './node';
import { ortNode } from './ort-node';
import { mergedModel } from './lora-file';
import type { LoraAdapter } from '../nn/lora';
import { decodeModelHeader, encodeModel } from '../onnx/proto';
import { externalRefsIfModel, PROTOBUF_LIMIT, weightBytes } from '../onnx/external-data';
import { readMetadata } from '../onnx/metadata';
import { diffusersFolderConfig, diffusersFolderOf, diffusersUnetFile, isDiffusersFolder } from './diffusers-folder';
import { checkExternalData, encodeModelToFiles, readModelFiles } from './model-files';
import { fetchOk } from './sources';
import { resolvePrecision, type Precision } from '../diffusion/sd/load';
import { upcastModelFile } from './float32-session';
import { hasFloat16Weights, upcastModelBytes } from '../onnx/upcast';

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
  /**
   * A float16 model (an all-float16 export): 'float32' widens it to float32 when its session is
   * made (src/onnx/upcast.ts), 'float16' runs it as exported, 'auto' (the default) is float16 on
   * CUDA and float32 on the CPU, where ONNX Runtime wraps most float16 ops in Casts (half the speed).
   */
  precision?: Precision;
}

function readBytes(file: string, what: 'model' | 'config'): Buffer {
  return readFileLimited(file, what === 'model' ? 'onnx' : 'json', what);
}

/**
 * A model path: a file, a folder with model.onnx in it (a training checkpoint), a diffusers
 * pipeline folder (model_index.json; its unet/model.onnx), or the name of a model shipped in the
 * package's models/ folder.
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
  if (isDiffusersFolder(file)) return diffusersUnetFile(file);
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

/** The model bytes, a name for messages, and the local file they came from (for external data). */
export async function readModelSource(src: NodeModelSource): Promise<{ bytes: Uint8Array; source: string; file?: string }> {
  if (src instanceof Uint8Array) return { bytes: src, source: 'model' };
  if (src instanceof ArrayBuffer) return { bytes: new Uint8Array(src), source: 'model' };
  const url = src instanceof URL ? src : /^(https?|file):\/\//.test(src) ? new URL(src) : undefined;
  if (url === undefined) {
    const source = resolveModelPath(src as string);
    return { bytes: readBytes(source, 'model'), source, file: path.resolve(source) };
  }
  if (url.protocol === 'file:') return readModelSource(fileURLToPath(url));
  // fetchOk names the URL and the network's cause or the HTTP status (not a bare "fetch failed").
  const res = await fetchOk(url.href);
  return { bytes: new Uint8Array(await res.arrayBuffer()), source: url.href };
}

/**
 * The config a model is sampled with: the given one (merged over a diffusers folder's), else the
 * file's metadata (undefined: DiffusionModel reads it), else the diffusers folder's configs.
 */
export function modelConfigFor(bytes: Uint8Array, source: string, file: string | undefined, given: string | object | undefined): ModelConfig | undefined {
  const givenJson = typeof given === 'string' ? readConfigFile(given) : given;
  const givenSource = typeof given === 'string' ? given : 'config';
  const root = file === undefined ? undefined : diffusersFolderOf(file);
  // The metadata is parsed here only for a folder's file, and the result handed on (DiffusionModel does not parse it again).
  const inFile = root === undefined ? undefined : readModelConfig(readMetadata(bytes, source), source);
  if (root !== undefined && inFile === undefined) {
    const { model, external } = decodeModelHeader(bytes, source);
    return configFromJson(diffusersFolderConfig(root, model, external, givenJson, givenSource), givenJson === undefined ? root : givenSource);
  }
  return givenJson === undefined ? inFile : configFromJson(givenJson, givenSource);
}

/**
 * Loads a denoiser for sampling from a path, a shipped model name, a diffusers pipeline folder, a
 * URL or the file's bytes. The config comes from the file's metadata unless `config` is given
 * (required for a foreign model such as a torch.onnx.export; for a diffusers folder it is read from
 * the folder, and a given one overrides it key by key). A model with external data is loaded from
 * its path, so that ONNX Runtime finds the data files from any working directory; every reference
 * is checked first (nothing outside the model's folder is opened).
 */
export async function loadModel(src: NodeModelSource, opts: LoadModelOptions = {}): Promise<DiffusionModel> {
  const read = await readModelSource(src);
  const source = read.source;
  let bytes = read.bytes;
  // bytes that are no protobuf at all (a pipeline JSON, garbage) are named by DiffusionModel.create
  const found = externalRefsIfModel(bytes, source);
  const refs = found ?? [];
  if (refs.length > 0 && read.file === undefined) {
    throw new DiffusionError(`${source}: its weights are in external files (${[...new Set(refs.map((r) => r.location))].join(', ')}); load it from a local path`);
  }
  if (refs.length > 0) checkExternalData(read.file!, bytes, refs);
  let sessionPath = refs.length > 0 ? read.file : undefined;
  const precision = resolvePrecision(opts.precision, opts.device === 'cuda');
  const config = modelConfigFor(bytes, source, read.file, opts.config);
  let tmp: string | undefined;
  if (opts.lora !== undefined) {
    const merged = mergedModel(refs.length > 0 ? readModelFiles(read.file!, bytes) : bytes, source, opts.lora);
    if (weightBytes(merged) < PROTOBUF_LIMIT - 2 ** 26) {
      bytes = encodeModel(merged);
      sessionPath = undefined;
    } else {
      // over a protobuf's 2 GB: written with external data to a temporary folder, read by ORT from there
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-merged-'));
      sessionPath = path.join(tmp, 'model.onnx');
      encodeModelToFiles(merged, sessionPath, { externalData: true });
      bytes = fs.readFileSync(sessionPath);
    }
  } else if (precision === 'float32' && found !== undefined && hasFloat16Weights(bytes, source)) {
    // (a merged adapter, above, is float32 already: mergedModel widens float16 weights before it merges)
    if (read.file === undefined) {
      // bytes or a URL: no external data (refused above), so nothing is fetched
      bytes = (await upcastModelBytes(bytes, source, async () => new Uint8Array(0))) ?? bytes;
    } else {
      const up = upcastModelFile(read.file, bytes);
      if (up?.bytes) {
        bytes = up.bytes;
        sessionPath = undefined;
      } else if (up?.file) {
        tmp = up.dir;
        sessionPath = up.file;
        bytes = fs.readFileSync(up.file);
      }
    }
  }
  const options = sessionOptions(opts);
  const create = () => DiffusionModel.create(ortNode() as unknown as OrtApi, bytes, { config, source, sessionOptions: options, path: sessionPath });
  try {
    if (opts.device !== 'cuda') return await create();
    // Name the missing library or driver before ORT fails with a generic message.
    cudaPreflight();
    try {
      return await create();
    } catch (e) {
      const why = explainCudaFailure((e as Error).message);
      throw why ? new DiffusionError(`${source}: ${why}`) : e;
    }
  } finally {
    if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  }
}
