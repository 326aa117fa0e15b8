/**
 * The browser entry: the isomorphic sampler (src/diffusion/sampler.ts) bound to onnxruntime-web.
 * The same model.onnx, config and seed give the same images as in Node (within float rounding).
 *
 * onnxruntime-web is imported lazily, one build per backend, so a WASM-only page never downloads
 * the WebGPU runtime: `onnxruntime-web/wasm` (ort-wasm-simd-threaded.{mjs,wasm}) and
 * `onnxruntime-web/webgpu` (ort-wasm-simd-threaded.asyncify.{mjs,wasm}). tools/web/build.ts
 * copies those files beside the bundle, where ORT looks for them by default.
 */
import type { Env, InferenceSession } from 'onnxruntime-common';
import { DiffusionError } from '../core/errors';
import type { RgbaImage } from '../image/pixels';
import { DiffusionModel, OrtApi } from '../runtime/model';
import { generator, type Generator } from '../diffusion/generate';

export { createSampler } from '../diffusion/sampler';
export { generator, type GenerateOptions, type Generator } from '../diffusion/generate';
export type { CreateSamplerOptions, SampleCallOptions, SampleResult, Sampler, SamplerModel } from '../diffusion/sampler';
export type { StepInfo } from '../diffusion/samplers/types';
export type { ModelConfig } from '../core/model-config';
export { makeGrid, upscale } from '../image/grid';
export { imageToRgba, toRgba } from '../image/pixels';
export type { RgbaImage } from '../image/pixels';
export { DiffusionError, DiffusionModel };
export * from '../diffusion/pipelines';
// LoRA in the page: merge an adapter into model bytes before loading, or insert adapters to fine-tune.
export { insertLora, mergeLora, extractLora, findLoraTargets, encodeAdapter, decodeAdapter } from '../nn/lora';
export type { LoraAdapter, LoraOptions, LoraSpec } from '../nn/lora';
export { decodeModel, encodeModel } from '../onnx/proto';

/** 'wasm' (default) runs on the CPU; 'webgpu' needs `navigator.gpu` with an adapter and falls back to 'wasm' without one. */
export type Backend = 'wasm' | 'webgpu';

/** A model as a URL, a picked file, or bytes already in memory. */
export type ModelSource = string | URL | Blob | ArrayBuffer | Uint8Array;

export interface WebLoadOptions {
  /** Config for a model without onnx-diffusion metadata (e.g. a PyTorch export). */
  config?: unknown;
  backend?: Backend;
  /**
   * WASM threads. Default: ORT's choice (min(4, cores / 2)) where the page is crossOriginIsolated
   * (served with COOP/COEP), else 1. Like `wasmPaths`, it takes effect only before the first
   * model of a backend loads: ORT initialises its runtime once per page.
   */
  numThreads?: number;
  /** Where ORT's ort-wasm-simd-threaded*.{mjs,wasm} live (a URL prefix ending in '/'). Default: beside this bundle. */
  wasmPaths?: Env.WasmPrefixOrFilePaths;
  /** Extra ORT session options (execution providers are set from `backend`). */
  sessionOptions?: InferenceSession.SessionOptions;
}

type OrtWeb = OrtApi & { env: Env };

const runtimes = new Map<Backend, Promise<OrtWeb>>();
const backends = new WeakMap<DiffusionModel, Backend>();

function importOrt(backend: Backend): Promise<OrtWeb> {
  let ort = runtimes.get(backend);
  if (!ort) {
    // Two literal imports, so the bundler splits each ORT build into its own chunk.
    ort = ((backend === 'webgpu' ? import('onnxruntime-web/webgpu') : import('onnxruntime-web/wasm')) as Promise<unknown> as Promise<OrtWeb>)
      .catch((e: Error) => {
        runtimes.delete(backend);
        // onnxruntime-web is an optional peer dependency: Node apps do not install its 140 MB.
        throw new DiffusionError(`onnxruntime-web could not be loaded (${e.message.split('\n')[0]}); install it beside onnx-diffusion: npm install onnxruntime-web@1.29.0`);
      });
    runtimes.set(backend, ort);
  }
  return ort;
}

/** The backend `loadModel` will use for a request: WebGPU only when asked for and `navigator.gpu` exists. */
export function resolveBackend(requested: Backend = 'wasm'): Backend {
  if (requested !== 'wasm' && requested !== 'webgpu') throw new DiffusionError(`backend: expected wasm|webgpu, got ${JSON.stringify(requested)}`);
  const hasGpu = typeof navigator !== 'undefined' && 'gpu' in navigator && !!(navigator as { gpu?: unknown }).gpu;
  return requested === 'webgpu' && hasGpu ? 'webgpu' : 'wasm';
}

/** Whether a WebGPU adapter exists: `navigator.gpu` alone is not enough (headless, blocklisted GPUs). */
async function hasWebGpuAdapter(): Promise<boolean> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  try {
    return !!(await gpu?.requestAdapter());
  } catch {
    return false;
  }
}

/** The backend a model loaded by `loadModel` runs on. */
export function backendOf(model: DiffusionModel): Backend | undefined {
  return backends.get(model);
}

/** Threads ORT's WASM backend can use here: the request, else ORT's default when threads are possible, else 1. */
export function resolveThreads(requested?: number): number | undefined {
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
  if (!isolated) return 1;
  if (requested === undefined) return undefined;
  if (!Number.isInteger(requested) || requested < 1) throw new DiffusionError(`numThreads: expected a positive integer, got ${requested}`);
  return requested;
}

async function readBytes(source: ModelSource): Promise<{ bytes: Uint8Array; name: string }> {
  if (source instanceof Uint8Array) return { bytes: source, name: 'model' };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: 'model' };
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = 'name' in source && typeof source.name === 'string' ? source.name : 'model';
    return { bytes: new Uint8Array(await source.arrayBuffer()), name };
  }
  if (typeof source === 'string' || source instanceof URL) {
    const name = String(source);
    let res: Response;
    try {
      res = await fetch(source);
    } catch (e) {
      throw new DiffusionError(`${name}: could not fetch the model: ${(e as Error).message}`);
    }
    if (!res.ok) throw new DiffusionError(`${name}: could not fetch the model: HTTP ${res.status} ${res.statusText}`.trim());
    return { bytes: new Uint8Array(await res.arrayBuffer()), name };
  }
  throw new DiffusionError('loadModel: expected a URL, File, Blob, ArrayBuffer or Uint8Array');
}

/**
 * Loads a model.onnx into onnxruntime-web and reads its diffusion config from the file's metadata.
 * The result plugs into `createSampler` exactly like a Node model.
 */
export async function loadModel(source: ModelSource, options: WebLoadOptions = {}): Promise<DiffusionModel> {
  let backend = resolveBackend(options.backend);
  if (backend === 'webgpu' && !(await hasWebGpuAdapter())) {
    console.warn('onnx-diffusion: navigator.gpu has no adapter; using WASM');
    backend = 'wasm';
  }
  const { bytes, name } = await readBytes(source);
  const ort = await importOrt(backend);
  const threads = resolveThreads(options.numThreads);
  if (threads !== undefined) ort.env.wasm.numThreads = threads;
  if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
  const sessionOptions: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    ...options.sessionOptions,
    executionProviders: backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'],
  };
  const model = await DiffusionModel.create(ort, bytes, { config: options.config, sessionOptions, source: name });
  backends.set(model, backend);
  return model;
}

/**
 * Loads a model (unless given one) and returns `gen(options)`, which samples `n` images per call:
 * `const gen = await pipeline('model.onnx'); const { rgba } = await gen({ n: 4, steps: 20 })`.
 */
export async function pipeline(source: ModelSource | DiffusionModel, options: WebLoadOptions = {}): Promise<Generator<DiffusionModel>> {
  if (source instanceof DiffusionModel) return generator(source, async () => {});
  const model = await loadModel(source, options);
  return generator(model, () => model.release());
}

/** An RGBA image (e.g. one of `SampleResult.rgba`) as an ImageData for `ctx.putImageData`. */
export function toImageData(img: RgbaImage): ImageData {
  if (typeof ImageData === 'undefined') throw new DiffusionError('toImageData: ImageData exists only in a browser (or a worker); use the RgbaImage bytes directly');
  return new ImageData(new Uint8ClampedArray(img.rgba), img.width, img.height);
}
