/**
 * Stable Diffusion in the page: a diffusers ONNX folder served at a URL (`.../tiny-sd/`), read
 * with fetch into the same pipeline as Node (diffusion/sd). A model with external data (the UNet's
 * weights.pb) gets `externalData: [{ path, data: URL }]` in its session options, so onnxruntime-web
 * fetches those files itself, beside the model.
 */
import type { InferenceSession } from 'onnxruntime-common';
import { DiffusionError } from '../core/errors';
import { onnx } from '../onnx/onnx-proto';
import { openStableDiffusion, type FolderAccess } from '../diffusion/sd/load';
import type { SdOrt, SdResult, StableDiffusion, StableDiffusionOptions } from '../diffusion/sd/pipeline';
import { openRuntime, type WebRuntimeOptions } from './runtime';

/** A loaded pipeline: call it to sample; `sd` gives the parts (encodePrompt, decodeLatents, ...). */
export interface WebStableDiffusionPipeline {
  (options: StableDiffusionOptions): Promise<SdResult>;
  readonly sd: StableDiffusion;
  readonly url: string;
  /** Frees every session. */
  dispose(): Promise<void>;
  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void>;
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

function webFolder(base: string, sessionOptions: InferenceSession.SessionOptions, ort: SessionMaker): FolderAccess {
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
  return {
    source: base.replace(/\/$/, ''),
    async text(rel) {
      const res = await get(rel);
      return res ? res.text() : undefined;
    },
    bytes,
    async session(rel, given) {
      const model = given ?? await bytes(rel);
      const dir = url(rel).replace(/[^/]*$/, '');
      const externalData = externalDataFiles(model, url(rel)).map((p) => ({ path: p, data: new URL(p, dir).href }));
      try {
        return await ort.InferenceSession.create(model, externalData.length ? { ...sessionOptions, externalData } : sessionOptions);
      } catch (e) {
        throw new DiffusionError(`${url(rel)}: ONNX Runtime could not load it: ${String((e as Error).message).split('\n')[0]}`);
      }
    },
  };
}

/**
 * Opens a diffusers ONNX pipeline folder served at `url` (resolved against the page's location;
 * a trailing '/' is added). The call takes StableDiffusionOptions; RGBA or float CHW init images.
 */
export async function loadStableDiffusion(url: string | URL, options: WebRuntimeOptions = {}): Promise<WebStableDiffusionPipeline> {
  const here = typeof location !== 'undefined' ? location.href : undefined;
  let base: string;
  try {
    base = new URL(String(url).endsWith('/') ? String(url) : `${String(url)}/`, here).href;
  } catch {
    throw new DiffusionError(`${String(url)}: not a URL (expected the URL of a diffusers ONNX pipeline folder)`);
  }
  const { ort, sessionOptions } = await openRuntime(options);
  const sd = await openStableDiffusion(webFolder(base, sessionOptions, ort), ort as unknown as SdOrt);
  const call = (o: StableDiffusionOptions) => sd.generate(o);
  return Object.assign(call, { sd, url: base, dispose: () => sd.dispose(), release: () => sd.dispose() });
}
