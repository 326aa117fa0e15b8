/**
 * Stable Diffusion in the page: a diffusers ONNX folder served at a URL (`.../tiny-sd/`), read
 * with fetch into the same pipeline as Node (diffusion/sd). A model with external data (the UNet's
 * weights.pb) gets `externalData: [{ path, data: URL }]` in its session options, so onnxruntime-web
 * fetches those files itself, beside the model.
 */
import type { InferenceSession } from 'onnxruntime-common';
import { DiffusionError } from '../core/errors';
import { onnx } from '../onnx/onnx-proto';
import { openStableDiffusion, resolvePrecision, type FolderAccess, type Precision } from '../diffusion/sd/load';
import { upcastModelBytes } from '../onnx/upcast';
import type { SdOrt, SdResult, StableDiffusion, StableDiffusionOptions } from '../diffusion/sd/pipeline';
import { openRuntime, type WebRuntimeOptions } from './runtime';

/** A loaded pipeline: call it to sample; `sd` gives the parts (encodePrompt, decodeLatents, ...). */
export interface WebStableDiffusionPipeline {
  (options: StableDiffusionOptions): Promise<SdResult>;
  readonly sd: StableDiffusion;
  readonly url: string;
  release(): Promise<void>;
}

/** The page's load options: the runtime's, and how float16 parts run ('auto': float16 on WebGPU, float32 on wasm). */
export interface WebStableDiffusionLoadOptions extends WebRuntimeOptions {
  precision?: Precision;
}

/** Whether a pipeline() source names a folder (a URL ending in '/'), which the page reads as a diffusers pipeline. */
export function isFolderUrl(source: unknown): source is string | URL {
  return (typeof source === 'string' || source instanceof URL) && String(source).endsWith('/');
}

/** The external-data files an ONNX model names (each initializer's `location`), relative to the model. */
export function externalDataFiles(bytes: Uint8Array, source: string): string[] {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new DiffusionError(`${source}: not a valid ONNX model (${(e as Error).message})`);
  }
  const files = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const loc = (t.externalData ?? []).find((e) => e.key === 'location')?.value;
    if (loc) files.add(loc);
  }
  return [...files];
}

/** The part of onnxruntime-web that makes sessions. */
interface SessionMaker {
  InferenceSession: { create(bytes: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
}

function webFolder(base: string, sessionOptions: InferenceSession.SessionOptions, ort: SessionMaker, precision: 'float32' | 'float16'): FolderAccess {
  const url = (rel: string) => new URL(rel, base).href;
  const get = async (rel: string): Promise<Response | undefined> => {
    let res: Response;
    try {
      res = await fetch(url(rel));
    } catch (e) {
      throw new DiffusionError(`${url(rel)}: could not fetch it: ${(e as Error).message}`);
    }
    if (res.status === 404) return undefined;
    if (!res.ok) throw new DiffusionError(`${url(rel)}: could not fetch it: HTTP ${res.status} ${res.statusText}`.trim());
    return res;
  };
  const bytes = async (rel: string): Promise<Uint8Array> => {
    const res = await get(rel);
    if (!res) {
      throw new DiffusionError(`${url(rel)}: not found (HTTP 404; a diffusers ONNX pipeline folder has text_encoder/, unet/, vae_decoder/ model.onnx files)`);
    }
    return new Uint8Array(await res.arrayBuffer());
  };
  const session = async (rel: string, given?: Uint8Array): Promise<InferenceSession> => {
    const model = given ?? await bytes(rel);
    const dir = url(rel).replace(/[^/]*$/, '');
    const externalData = externalDataFiles(model, url(rel)).map((p) => ({ path: p, data: new URL(p, dir).href }));
    try {
      return await ort.InferenceSession.create(model, externalData.length ? { ...sessionOptions, externalData } : sessionOptions);
    } catch (e) {
      throw new DiffusionError(`${url(rel)}: ONNX Runtime could not load it: ${String((e as Error).message).split('\n')[0]}`);
    }
  };
  return {
    source: base.replace(/\/$/, ''),
    async text(rel) {
      const res = await get(rel);
      return res ? res.text() : undefined;
    },
    bytes,
    session,
    // float16 parts widened to float32 in memory, their external data fetched (onnx/upcast.ts)
    ...(precision === 'float32' ? {
      async float32Session(rel: string, given?: Uint8Array) {
        const dir = rel.replace(/[^/]*$/, '');
        const model = given ?? await bytes(rel);
        const up = await upcastModelBytes(model, url(rel), (loc) => bytes(dir + loc));
        // no float16: the plain session, from the bytes already fetched
        if (!up) return session(rel, model);
        try {
          return await ort.InferenceSession.create(up, sessionOptions);
        } catch (e) {
          throw new DiffusionError(`${url(rel)}: ONNX Runtime could not load its float32 upcast: ${String((e as Error).message).split('\n')[0]}`);
        }
      },
    } : {}),
  };
}

/**
 * Opens a diffusers ONNX pipeline folder served at `url` (resolved against the page's location;
 * a trailing '/' is added). The call takes StableDiffusionOptions; RGBA or float CHW init images.
 */
export async function loadStableDiffusion(url: string | URL, options: WebStableDiffusionLoadOptions = {}): Promise<WebStableDiffusionPipeline> {
  const here = typeof location !== 'undefined' ? location.href : undefined;
  let base: string;
  try {
    base = new URL(String(url).endsWith('/') ? String(url) : `${String(url)}/`, here).href;
  } catch {
    throw new DiffusionError(`${String(url)}: not a URL (expected the URL of a diffusers ONNX pipeline folder)`);
  }
  const { ort, sessionOptions, backend } = await openRuntime(options);
  const precision = resolvePrecision(options.precision, backend === 'webgpu');
  const sd = await openStableDiffusion(webFolder(base, sessionOptions, ort, precision), ort as unknown as SdOrt);
  const call = (o: StableDiffusionOptions) => sd.generate(o);
  return Object.assign(call, { sd, url: base, release: () => sd.release() });
}
