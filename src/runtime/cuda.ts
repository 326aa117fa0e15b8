import * as fs from 'fs';
import * as path from 'path';
import type { InferenceSession } from 'onnxruntime-node';
import { DiffusionError } from '../core/errors';
import { shippedDoc } from '../core/node/package-files';
import { bindingDir, findLibrary, LibraryLookup, ortNodeVersion, ortVersionIn, PROVIDER_LIBRARIES, readElfDynamic } from './providers';

/**
 * CUDA for onnxruntime-node: a pre-flight check that turns "the session failed to load a shared
 * library" into one line naming the missing file and the fix, and the execution-provider options.
 *
 * What can be set for CUDA from Node (onnxruntime-node 1.29.0, js/node/src/session_options_helper.cc):
 * the CUDA EP receives `deviceId` and nothing else, so cuDNN conv algorithm search, arena and
 * stream settings stay at ORT's defaults (EXHAUSTIVE search: the first runs of each shape are
 * slow). Session config keys do pass through `sessionOptions.extra` (string values, nested objects
 * flattened with dots, e.g. `{ session: { intra_op: { allow_spinning: '0' } } }`). There is no IO
 * binding: every output comes back to the host after each run.
 */

/** What ORT 1.29.0's CUDA 13 provider links (docs/cuda.md), used when the installed provider cannot be read. */
export const CUDA_LINKED_FALLBACK = ['libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10', 'libcudart.so.13', 'libcuda.so.1'];
/** Loaded with dlopen at run time under these unversioned names (versioned files need a symlink). */
export const CUDA_RUNTIME_LOADED = ['libcudnn.so', 'libnvrtc.so'];
/** The C/C++ runtime that Node itself already loaded: never worth reporting. */
const SYSTEM_LIB = /^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so(\.|$)/;
const DRIVER_LIB = 'libcuda.so.1';

export interface ProviderFileStatus {
  name: string;
  path: string;
  present: boolean;
  bytes: number | null;
  /** ORT version found inside (null: none found; undefined: not scanned). */
  ortVersion?: string | null;
}

export interface CudaLibraryStatus extends LibraryLookup {
  /** linked: DT_NEEDED of the provider; driver: libcuda.so.1; dlopen: loaded by name at run time. */
  kind: 'linked' | 'driver' | 'dlopen';
}

/** Everything CUDA needs on this machine, as found; `cudaProblem` reads the first gap from it. */
export interface CudaReport {
  bindingDir: string;
  /** The onnxruntime-node version the provider libraries must come from. */
  expectedVersion: string;
  providers: ProviderFileStatus[];
  /** 'provider': the installed provider's DT_NEEDED entries; 'fallback': docs/cuda.md's list. */
  librariesFrom: 'provider' | 'fallback';
  libraries: CudaLibraryStatus[];
}

export interface CudaCheckOptions {
  /** Where the provider libraries should be (default: next to the onnxruntime-node binding). */
  bindingDir?: string;
  env?: Record<string, string | undefined>;
  /** Scan the provider for its ORT version (default true). */
  versions?: boolean;
}

const versionCache = new Map<string, string | null>();

function cachedOrtVersion(file: string, stat: fs.Stats, expected: string): string | null {
  const key = `${file}:${stat.size}:${stat.mtimeMs}:${expected}`;
  if (!versionCache.has(key)) versionCache.set(key, ortVersionIn(file, expected));
  return versionCache.get(key) ?? null;
}

/** Checks the provider files and every library they need, without loading anything. */
export function cudaReport(options: CudaCheckOptions = {}): CudaReport {
  const dir = options.bindingDir ?? bindingDir();
  const expectedVersion = ortNodeVersion();
  const providers: ProviderFileStatus[] = PROVIDER_LIBRARIES.map((name) => {
    const file = path.join(dir, name);
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    const status: ProviderFileStatus = { name, path: file, present: !!stat?.isFile(), bytes: stat?.isFile() ? stat.size : null };
    if (stat?.isFile() && options.versions !== false) status.ortVersion = cachedOrtVersion(file, stat, expectedVersion);
    return status;
  });
  let needed = CUDA_LINKED_FALLBACK;
  let runpath: string[] = [];
  let librariesFrom: CudaReport['librariesFrom'] = 'fallback';
  const cudaProvider = providers[0];
  if (cudaProvider.present) {
    try {
      const dyn = readElfDynamic(cudaProvider.path);
      needed = dyn.needed.filter((n) => !SYSTEM_LIB.test(n));
      runpath = dyn.runpath;
      librariesFrom = 'provider';
    } catch {
      // not a readable ELF file: cudaProblem reports the provider itself; list what docs/cuda.md says it links
    }
  }
  const look = { env: options.env, runpath, origin: dir };
  const libraries: CudaLibraryStatus[] = [
    ...needed.map((n) => ({ ...findLibrary(n, look), kind: n === DRIVER_LIB ? ('driver' as const) : ('linked' as const) })),
    ...CUDA_RUNTIME_LOADED.map((n) => ({ ...findLibrary(n, look), kind: 'dlopen' as const })),
  ];
  return { bindingDir: dir, expectedVersion, providers, librariesFrom, libraries };
}

const INSTALL_HINT = (version: string) => `run 'onnx-diffusion install-cuda --from <ORT ${version} GPU archive>' (see ${shippedDoc('cuda.md')})`;

/** The first thing that stops CUDA from working, as one line; null when nothing is missing. */
export function cudaProblem(report: CudaReport): string | null {
  const v = report.expectedVersion;
  for (const p of report.providers) {
    if (!p.present) return `CUDA requested but ${p.name} is missing in ${report.bindingDir}: ${INSTALL_HINT(v)}`;
  }
  const provider = report.providers[0];
  if (report.librariesFrom === 'fallback') return `CUDA requested but ${provider.path} is not a 64-bit ELF shared library: ${INSTALL_HINT(v)}`;
  if (provider.ortVersion !== undefined && provider.ortVersion !== v) {
    const built = provider.ortVersion ? `is built for ONNX Runtime ${provider.ortVersion}` : 'carries no ONNX Runtime version string';
    return `CUDA requested but ${provider.name} ${built}, and onnxruntime-node is ${v}: ${INSTALL_HINT(v)}`;
  }
  const missing = report.libraries.find((l) => !l.path);
  return missing ? loaderProblem(missing.name, missing.kind, missing.elsewhere) : null;
}

/** One line for a library the loader cannot find, with the fix that suits it. */
export function loaderProblem(name: string, kind: CudaLibraryStatus['kind'], elsewhere: string[] = []): string {
  const head = `CUDA requested but ${name} is not found by the dynamic loader`;
  if (kind === 'driver') return `${head}: install the NVIDIA driver (this library comes with it) or run on a machine with a CUDA GPU`;
  const versioned = elsewhere.find((p) => path.basename(p).startsWith(`${name}.`));
  if (kind === 'dlopen' && versioned) {
    return `${head} (only ${versioned} exists): make a symlink ${name} -> ${path.basename(versioned)} in a folder on LD_LIBRARY_PATH`;
  }
  const exact = elsewhere.find((p) => path.basename(p) === name);
  if (exact) return `${head} (it is in ${path.dirname(exact)}, which the loader does not search): add that folder to LD_LIBRARY_PATH`;
  const what = name.startsWith('libcudnn') ? 'cuDNN 9 for CUDA 13' : 'the CUDA 13 libraries';
  return `${head}: install ${what} and add their folder to LD_LIBRARY_PATH`;
}

const passed = new Set<string>();

/**
 * Throws one DiffusionError line naming the first missing piece (provider file, wrong ORT version,
 * CUDA library, driver) and how to fix it. Call it before creating a CUDA session: ORT itself
 * only says "Failed to load shared library". A passing check is remembered for the process.
 */
export function cudaPreflight(options: CudaCheckOptions = {}): void {
  const key = options.bindingDir ?? bindingDir();
  if (!options.env && passed.has(key)) return;
  const problem = cudaProblem(cudaReport(options));
  if (problem) throw new DiffusionError(problem);
  if (!options.env) passed.add(key);
}

/**
 * Maps ONNX Runtime's error for a failed CUDA session to the same one-line style, or null when the
 * message is not about CUDA. ORT 1.29.0 throws "OrtSessionOptionsAppendExecutionProvider_Cuda:
 * Failed to load shared library" and logs the loader's reason to stderr; newer builds put
 * "Failed to load library X with error: Y: cannot open shared object file" in the message.
 */
export function explainCudaFailure(message: string, options: CudaCheckOptions = {}): string | null {
  const line = message.split('\n')[0].trim();
  const cannotOpen = /Failed to load library (\S+) with error: ([^:\s]+): cannot open shared object file/.exec(message);
  if (cannotOpen) {
    const name = path.basename(cannotOpen[2]);
    if ((PROVIDER_LIBRARIES as readonly string[]).includes(name)) return `CUDA requested but ${name} cannot be loaded: ${INSTALL_HINT(ortNodeVersion())}`;
    const kind = name === DRIVER_LIB ? 'driver' : CUDA_RUNTIME_LOADED.includes(name) ? 'dlopen' : 'linked';
    return loaderProblem(name, kind, findLibrary(name, { env: options.env }).elsewhere);
  }
  if (/Failed to load (shared )?library/i.test(message)) {
    const problem = cudaProblem(cudaReport(options));
    return problem ?? `CUDA requested but ONNX Runtime could not load libonnxruntime_providers_cuda.so (${line}): ONNX Runtime's log line above names the library`;
  }
  if (/CUDA|cudnn|cublas/i.test(message)) return `CUDA requested but the CUDA execution provider failed: ${line}`;
  return null;
}

/** Execution providers for a CUDA session: CUDA first, CPU for the ops CUDA does not implement. */
export function cudaExecutionProviders(deviceId = 0): InferenceSession.ExecutionProviderConfig[] {
  return [{ name: 'cuda', deviceId } as InferenceSession.ExecutionProviderConfig, 'cpu'];
}
