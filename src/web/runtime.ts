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
import { checkOptions, type OptionRule } from '../core/option-check';
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
  checkRuntimeOptions(options);
  const sessionOptions: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    ...options.sessionOptions,
    executionProviders: backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'],
  };
  return { ort: withWasmHint(ort, backend), backend, sessionOptions };
}

/** The page's loadModel/pipeline options (WebLoadOptions in src/web/index.ts): a rule for each. */
export const WEB_LOAD_OPTIONS: Readonly<Record<keyof WebRuntimeOptions | keyof FetchModelOptions | 'config' | 'precision', OptionRule>> = {
  progress: { kind: 'function' },
  cache: { kind: 'any' },
  backend: { kind: 'string', oneOf: ['wasm', 'webgpu'] },
  numThreads: { kind: 'integer', min: 1 },
  wasmPaths: { kind: 'any' },
  sessionOptions: { kind: 'object' },
  config: { kind: 'any' },
  precision: { kind: 'string', oneOf: ['auto', 'float32', 'float16'] },
};

/** The page's loadModel/pipeline options checked at the boundary: unknown keys (with "did you mean"), types, ranges. */
export function checkWebLoadOptions(options: unknown): void {
  checkOptions(options, WEB_LOAD_OPTIONS, 'loadModel');
}

/** The types of the runtime options every page entry shares (the entries check their own keys). */
function checkRuntimeOptions(o: WebRuntimeOptions): void {
  if (o.wasmPaths !== undefined && typeof o.wasmPaths !== 'string' && (typeof o.wasmPaths !== 'object' || o.wasmPaths === null)) {
    throw new OptionError('wasmPaths', `must be a URL prefix ending in '/' or { wasm, mjs } URLs, got ${typeof o.wasmPaths}`);
  }
  if (typeof o.wasmPaths === 'string' && !o.wasmPaths.endsWith('/')) throw new OptionError('wasmPaths', `must end in '/' (a folder's URL), got "${o.wasmPaths}"`);
  if (o.sessionOptions !== undefined && (typeof o.sessionOptions !== 'object' || o.sessionOptions === null)) throw new OptionError('sessionOptions', 'must be an object');
}

/** ORT's runtime files of a backend's build: what a page must serve (tools/web/build.ts copies them). */
export const ORT_WASM_FILES: Record<Backend, string> = {
  wasm: 'ort-wasm-simd-threaded.wasm',
  webgpu: 'ort-wasm-simd-threaded.asyncify.wasm',
};

/** What ORT says when its .wasm or .mjs did not load (a 404 served as HTML, a missing module). */
const WASM_MISSING = /no available backend found|fetching of the wasm failed|Failed to fetch dynamically imported module|expected magic word|Importing a module script failed|WebAssembly\.instantiate/i;

/**
 * ORT with session creation that names the file to serve when its WASM runtime did not load,
 * instead of an error that reads as if the model were at fault.
 */
function withWasmHint(ort: OrtWeb, backend: Backend): OrtWeb {
  const file = ORT_WASM_FILES[backend];
  // One signature for both overloads (bytes or a path), so the wrapper keeps them both.
  const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (model: Uint8Array | string, options?: object) => ReturnType<OrtWeb['InferenceSession']['create']>;
  return {
    ...ort,
    env: ort.env,
    InferenceSession: {
      ...ort.InferenceSession,
      create: (async (...args: Parameters<typeof create>) => {
        try {
          return await create(...args);
        } catch (e) {
          const msg = String((e as Error).message ?? e);
          if (!WASM_MISSING.test(msg)) throw e;
          const where = typeof ort.env.wasm.wasmPaths === 'string' ? `under ${ort.env.wasm.wasmPaths}` : 'beside the bundle (or set `wasmPaths`)';
          throw new DiffusionError(`onnxruntime-web could not load its WASM runtime: serve node_modules/onnxruntime-web/dist/${file} and its .mjs ${where} (${msg.split('\n')[0]})`);
        }
      }) as OrtWeb['InferenceSession']['create'],
    },
  };
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

/** One file's download in the page: `loaded` of `total` bytes; 'cached' when the Cache API had it. */
export interface WebDownloadProgress {
  url: string;
  loaded: number;
  total?: number;
  status: 'download' | 'done' | 'cached';
}

export interface FetchModelOptions {
  progress?: (p: WebDownloadProgress) => void;
  /** Keep the file in the page's Cache API under this cache name (true: 'onnx-diffusion'; default false). */
  cache?: boolean | string;
}

/**
 * A model URL's bytes in the page, with download progress and, when asked, the Cache API: a second
 * visit reads the file from the cache instead of the network. Errors name the URL and the status.
 */
export async function fetchModel(source: string | URL, options: FetchModelOptions = {}): Promise<Uint8Array> {
  const { progress, cache = false } = options;
  if (progress !== undefined && typeof progress !== 'function') throw new OptionError('progress', `must be a function, got ${typeof progress}`);
  if (typeof cache !== 'boolean' && typeof cache !== 'string') throw new OptionError('cache', `must be a boolean or a cache name, got ${typeof cache}`);
  const url = new URL(String(source), typeof location !== 'undefined' ? location.href : undefined).href;
  const store = cache !== false && typeof caches !== 'undefined' ? await caches.open(cache === true ? 'onnx-diffusion' : cache) : undefined;
  const hit = await store?.match(url);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    progress?.({ url, loaded: bytes.length, total: bytes.length, status: 'cached' });
    return bytes;
  }
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new DiffusionError(`${String(source)}: could not fetch the model: ${(e as Error).message}`);
  }
  if (!res.ok) throw new DiffusionError(`${String(source)}: could not fetch the model: HTTP ${res.status} ${res.statusText}`.trim());
  const length = res.headers.get('content-length');
  const total = length !== null && res.headers.get('content-encoding') === null ? Number(length) : undefined;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body?.getReader();
  for (;;) {
    const next = reader ? await reader.read() : { done: true as const, value: undefined };
    if (next.done) break;
    chunks.push(next.value);
    loaded += next.value.length;
    progress?.({ url, loaded, total, status: 'download' });
  }
  if (total !== undefined && loaded !== total) throw new DiffusionError(`${String(source)}: got ${loaded} bytes, the server announced ${total}`);
  const bytes = new Uint8Array(loaded);
  chunks.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
  await store?.put(url, new Response(bytes, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(loaded) } }));
  progress?.({ url, loaded, total: loaded, status: 'done' });
  return bytes;
}

/**
 * A model source's bytes and a name for messages. `fetchOptions` (progress, cache) apply to URLs;
 * loadModel in src/web/index.ts passes none yet, so a page that wants them calls fetchModel itself.
 */
export async function readBytes(source: ModelSource, what = 'loadModel', fetchOptions: FetchModelOptions = {}): Promise<{ bytes: Uint8Array; name: string }> {
  if (source instanceof Uint8Array) return { bytes: source, name: 'model' };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: 'model' };
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = 'name' in source && typeof source.name === 'string' ? source.name : 'model';
    return { bytes: new Uint8Array(await source.arrayBuffer()), name };
  }
  if (typeof source === 'string' || source instanceof URL) {
    if (typeof source === 'string') rejectModelName(source);
    const name = String(source);
    return { bytes: await fetchModel(source, fetchOptions), name };
  }
  throw new DiffusionError(`${what}: expected a URL, File, Blob, ArrayBuffer or Uint8Array`);
}
