/**
 * onnxruntime-web for the page: one lazily imported build per backend, the backend and thread
 * choices, and session options. Shared by `loadModel` (sampling) and `createTrainer` (training), so
 * both follow the same fallback rules.
 *
 * onnxruntime-web is imported lazily, one build per backend, so a WASM-only page never downloads
 * the WebGPU runtime: `onnxruntime-web/wasm` (ort-wasm-simd-threaded.{mjs,wasm}) and
 * `onnxruntime-web/webgpu` (ort-wasm-simd-threaded.asyncify.{mjs,wasm}). tools/web/build.ts
 * copies those files beside the bundle, where ORT looks for them by default.
 */
import type { Env, InferenceSession } from 'onnxruntime-common';
import { DiffusionError, OptionError } from '../core/errors';
import type { OrtApi } from '../runtime/model';

/** 'wasm' (default) runs on the CPU; 'webgpu' needs `navigator.gpu` with an adapter and falls back to 'wasm' without one. */
export type Backend = 'wasm' | 'webgpu';

/** A model as a URL, a picked file, or bytes already in memory. */
export type ModelSource = string | URL | Blob | ArrayBuffer | Uint8Array;

/** How a page runs ORT: backend, WASM threads, where ORT's files are, extra session options. */
export interface WebRuntimeOptions {
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

export type OrtWeb = OrtApi & { env: Env };

const runtimes = new Map<Backend, Promise<OrtWeb>>();

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
  if (requested !== 'wasm' && requested !== 'webgpu') throw new OptionError('backend', `must be wasm or webgpu, got ${JSON.stringify(requested)}`);
  const hasGpu = typeof navigator !== 'undefined' && 'gpu' in navigator && !!(navigator as { gpu?: unknown }).gpu;
  return requested === 'webgpu' && hasGpu ? 'webgpu' : 'wasm';
}

/**
 * Whether WebGPU can run here: `navigator.gpu` gives an adapter. `navigator.gpu` alone is not
 * enough (headless Chromium without --enable-unsafe-webgpu, blocklisted GPUs, insecure pages).
 */
export async function webGpuAvailable(): Promise<boolean> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  try {
    return !!(await gpu?.requestAdapter());
  } catch {
    return false;
  }
}

/** Threads ORT's WASM backend can use here: the request, else ORT's default when threads are possible, else 1. */
export function resolveThreads(requested?: number): number | undefined {
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
  if (!isolated) return 1;
  if (requested === undefined) return undefined;
  if (!Number.isInteger(requested) || requested < 1) throw new OptionError('numThreads', `must be a positive integer, got ${requested}`);
  return requested;
}

/** ORT for `options`: the backend after fallback (WebGPU without an adapter runs on WASM), and the session options. */
export async function openRuntime(options: WebRuntimeOptions): Promise<{ ort: OrtWeb; backend: Backend; sessionOptions: InferenceSession.SessionOptions }> {
  let backend = resolveBackend(options.backend);
  if (backend === 'webgpu' && !(await webGpuAvailable())) {
    console.warn('onnx-diffusion: navigator.gpu has no adapter; using WASM');
    backend = 'wasm';
  }
  const ort = await importOrt(backend);
  const threads = resolveThreads(options.numThreads);
  if (threads !== undefined) ort.env.wasm.numThreads = threads;
  if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
  const sessionOptions: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    ...options.sessionOptions,
    executionProviders: backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'],
  };
  return { ort, backend, sessionOptions };
}

/** A bare name with no extension or path (`fashion-mnist`, `fashion-mnist.fp16`): in Node, a model shipped in the package's models/. */
const MODEL_NAME = /^[\w-]+(\.fp16)?$/;

/**
 * A page cannot read the package's models/ folder: a bundler does not emit them, so fetching the bare
 * name would 404. Throws the one line that says which file to serve instead.
 */
export function rejectModelName(source: string): void {
  if (!MODEL_NAME.test(source)) return;
  const [name, half] = source.endsWith('.fp16') ? [source.slice(0, -5), true] : [source, false];
  const file = half ? 'model.fp16.onnx' : 'model.onnx (or model.fp16.onnx)';
  throw new DiffusionError(`${source}: model names resolve only in Node; in a page, serve node_modules/onnx-diffusion/models/${name}/${file} and pass its URL`);
}

export async function readBytes(source: ModelSource, what = 'loadModel'): Promise<{ bytes: Uint8Array; name: string }> {
  if (source instanceof Uint8Array) return { bytes: source, name: 'model' };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: 'model' };
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = 'name' in source && typeof source.name === 'string' ? source.name : 'model';
    return { bytes: new Uint8Array(await source.arrayBuffer()), name };
  }
  if (typeof source === 'string' || source instanceof URL) {
    if (typeof source === 'string') rejectModelName(source);
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
  throw new DiffusionError(`${what}: expected a URL, File, Blob, ArrayBuffer or Uint8Array`);
}
