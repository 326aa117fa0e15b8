/**
 * Stable Diffusion in the page: a diffusers ONNX folder served at a URL (`.../tiny-sd/`), read
 * with fetch into the same pipeline as Node (diffusion/sd). A model with external data (the UNet's
 * weights.pb) gets `externalData: [{ path, data: URL }]` in its session options, so onnxruntime-web
 * fetches those files itself, beside the model.
 */
import type { InferenceSession } from 'onnxruntime-common';
import { DiffusionError, OptionError } from '../core/errors';
import { onnx } from '../onnx/onnx-proto';
import { openStableDiffusion, resolvePrecision, withUnetBytes, type FolderAccess, type Precision } from '../diffusion/sd/load';
import { StableDiffusion, type SdOrt, type SdResult, type StableDiffusionOptions } from '../diffusion/sd/pipeline';
import { decodeAdapter, type LoraAdapter, mergeLora } from '../nn/lora';
import { checkLocation, checkSpan, externalRefs } from '../onnx/external-data';
import type { Model } from '../onnx/ir';
import { decodeModel, encodeModel } from '../onnx/proto';
import { upcastModel, upcastModelBytes } from '../onnx/upcast';
import { openRuntime, type OrtWeb, type WebRuntimeOptions } from './runtime';

/** A loaded pipeline: call it to sample; `sd` gives the parts (encodePrompt, decodeLatents, ...). */
export interface WebStableDiffusionPipeline {
  (options: StableDiffusionOptions): Promise<SdResult>;
  readonly sd: StableDiffusion;
  readonly url: string;
  /** Frees the pipeline's ONNX Runtime sessions; it cannot sample afterwards. */
  dispose(): Promise<void>;
  /** @deprecated The same as `dispose()`. */
  release(): Promise<void>;
}

/** The page's options of `pipeline(url)`: the runtime's, how float16 parts run, and a LoRA adapter merged into the UNet. */
export interface WebStableDiffusionOptions extends WebRuntimeOptions {
  /** How float16 parts run: 'auto' (float16 on WebGPU, widened to float32 on wasm), 'float32' or 'float16'. */
  precision?: Precision;
  /**
   * A LoRA adapter merged into the UNet's weights before its session is made: safetensors bytes
   * (a trainer's `exportAdapter()`, Node's adapter.safetensors, a diffusers/peft/kohya file), the URL
   * of one, or a decoded adapter. The same merge as Node's `pipeline(dir, { lora })` (a float16
   * UNet is widened to float32 first, as there).
   */
  lora?: Uint8Array | string | URL | LoraAdapter;
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

/** A served folder read with fetch; sessions get its external data by URL; 'float32' widens float16 parts. @internal */
export function webFolder(base: string, sessionOptions: InferenceSession.SessionOptions, ort: SessionMaker, precision: 'float32' | 'float16' = 'float32'): FolderAccess {
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

/** A folder URL resolved against the page's location, with its trailing '/'. @internal */
export function folderUrl(url: string | URL): string {
  const here = typeof location !== 'undefined' ? location.href : undefined;
  try {
    return new URL(String(url).endsWith('/') ? String(url) : `${String(url)}/`, here).href;
  } catch {
    throw new DiffusionError(`${String(url)}: not a URL (expected the URL of a diffusers ONNX pipeline folder)`);
  }
}

/**
 * A model of the folder decoded with its weights in memory: its external data files fetched
 * beside it (each location checked to stay in the model's folder, each span against the file).
 * @internal
 */
export async function readFolderModel(folder: FolderAccess, rel: string): Promise<Model> {
  const source = `${folder.source}/${rel}`;
  const bytes = await folder.bytes(rel);
  const dir = rel.replace(/[^/]*$/, '');
  const files = new Map<string, Uint8Array>();
  for (const ref of externalRefs(bytes, source)) {
    checkLocation(ref);
    if (!files.has(ref.location)) files.set(ref.location, await folder.bytes(dir + ref.location));
  }
  return decodeModel(bytes, source, {
    external: (ref, into) => {
      const data = files.get(ref.location)!;
      const { offset, length } = checkSpan(ref, data.length);
      into.set(data.subarray(offset, offset + length));
    },
  });
}

/** An adapter given as bytes, a URL or an object, decoded against the UNet it is merged into. */
async function adapterOf(lora: NonNullable<WebStableDiffusionOptions['lora']>, unet: Model): Promise<LoraAdapter> {
  if (lora instanceof Uint8Array) return decodeAdapter(lora, 'lora', unet.graph);
  if (typeof lora === 'string' || lora instanceof URL) {
    const res = await fetch(lora).catch((e: Error) => {
      throw new DiffusionError(`${String(lora)}: could not fetch the LoRA adapter: ${e.message}`);
    });
    if (!res.ok) throw new DiffusionError(`${String(lora)}: could not fetch the LoRA adapter: HTTP ${res.status}`);
    return decodeAdapter(new Uint8Array(await res.arrayBuffer()), String(lora), unet.graph);
  }
  if (typeof lora === 'object' && lora !== null && 'spec' in lora && 'tensors' in lora) return lora;
  throw new OptionError('lora', 'expected safetensors bytes (Uint8Array), the URL of an adapter file, or a decoded adapter');
}

function asPipeline(sd: StableDiffusion, url: string, dispose: () => Promise<void>): WebStableDiffusionPipeline {
  const call = (o: StableDiffusionOptions) => sd.generate(o);
  return Object.assign(call, { sd, url, dispose, release: dispose });
}

/**
 * Opens a diffusers ONNX pipeline folder served at `url` (resolved against the page's location;
 * a trailing '/' is added). The call takes StableDiffusionOptions; RGBA or float CHW init images.
 */
export async function loadStableDiffusion(url: string | URL, options: WebStableDiffusionOptions = {}): Promise<WebStableDiffusionPipeline> {
  const base = folderUrl(url);
  const { ort, sessionOptions, backend } = await openRuntime(options);
  const precision = resolvePrecision(options.precision, backend === 'webgpu');
  let folder = webFolder(base, sessionOptions, ort, precision);
  if (options.lora !== undefined) {
    const unet = upcastModel(await readFolderModel(folder, 'unet/model.onnx'));
    folder = withUnetBytes(folder, encodeModel(mergeLora(unet, await adapterOf(options.lora, unet))));
  }
  const sd = await openStableDiffusion(folder, ort as unknown as SdOrt);
  return asPipeline(sd, base, () => sd.dispose());
}

/**
 * A pipeline sharing `sd`'s tokenizer, text encoder and VAE decoder with `unet` (ONNX bytes, weights
 * inline) as its UNet: text to image with trained weights. Its dispose frees that UNet only.
 * @internal
 */
export async function pipelineWithUnet(sd: StableDiffusion, url: string, ort: OrtWeb, unet: Uint8Array, options: WebRuntimeOptions): Promise<WebStableDiffusionPipeline> {
  const { sessionOptions } = await openRuntime(options);
  const session = await ort.InferenceSession.create(unet, sessionOptions);
  const parts = { ...sd.parts, unet: { session, source: `${sd.parts.source}/unet/model.onnx (trained)` }, vaeEncoder: undefined };
  return asPipeline(new StableDiffusion(parts, ort as unknown as SdOrt), url, () => session.release());
}
