/**
 * The browser entry: the isomorphic sampler (src/diffusion/sampler.ts) bound to onnxruntime-web.
 * The same model.onnx, config and seed give the same images as in Node (within float rounding).
 *
 * onnxruntime-web is imported lazily, one build per backend, so a WASM-only page never downloads
 * the WebGPU runtime: `onnxruntime-web/wasm` (ort-wasm-simd-threaded.{mjs,wasm}) and
 * `onnxruntime-web/webgpu` (ort-wasm-simd-threaded.asyncify.{mjs,wasm}). tools/web/build.ts
 * copies those files beside the bundle, where ORT looks for them by default.
 */
import { DiffusionError, OptionError } from '../core/errors';
import type { RgbaImage } from '../image/pixels';
import { DiffusionModel } from '../runtime/model';
import { imagePipeline, type ImagePipeline } from '../diffusion/image-pipeline';
import { resolvePrecision, type Precision } from '../diffusion/sd/load';
import { hasFloat16Weights } from '../onnx/metadata';
import type { InferenceSession } from 'onnxruntime-common';
import { type Backend, checkWebLoadOptions, type FetchModelOptions, type ModelSource, openRuntime, readBytes, type WebRuntimeOptions } from './runtime';

export { resolveBackend, resolveThreads } from './runtime';
export type { Backend, ModelSource, WebRuntimeOptions } from './runtime';

export { createSampler } from '../diffusion/sampler';
export { imagePipeline, generator, type GenerateOptions, type ImagePipeline } from '../diffusion/image-pipeline';
export type { CreateSamplerOptions, SampleCallOptions, SampleResult, Sampler, SamplerModel } from '../diffusion/sampler';
export type { StepInfo } from '../diffusion/samplers/types';
export type { ModelConfig } from '../core/model-config';
export { makeGrid, upscale } from '../image/grid';
export { imageToRgba, toRgba } from '../image/pixels';
export type { RgbaImage } from '../image/pixels';
export { DiffusionError, DiffusionModel, OptionError };
export * from '../diffusion/cascades';
// LoRA in the page: merge an adapter into model bytes before loading, or insert adapters to fine-tune.
export { insertLora, mergeLora, extractLora, findLoraTargets, encodeAdapter, decodeAdapter } from '../nn/lora';
export type { LoraAdapter, LoraOptions, LoraSpec } from '../nn/lora';
export { decodeModel, encodeModel } from '../onnx/proto';

export interface WebLoadOptions extends WebRuntimeOptions, FetchModelOptions {
  /** Config for a model without onnx-diffusion metadata (e.g. a PyTorch export). */
  config?: unknown;
  /**
   * A float16 model: 'float32' widens it to float32 before its session is made, 'float16' runs it
   * as exported, 'auto' (the default) is float16 on WebGPU and float32 on wasm (no float16 kernels
   * for most ops). Its float16 external data, if any, must be given in `sessionOptions.externalData`.
   */
  precision?: Precision;
}

const backends = new WeakMap<DiffusionModel, Backend>();

/** The backend a model loaded by `loadModel` runs on. */
export function backendOf(model: DiffusionModel): Backend | undefined {
  return backends.get(model);
}

/**
 * Loads a model.onnx into onnxruntime-web and reads its diffusion config from the file's metadata.
 * The result plugs into `createSampler` exactly like a Node model.
 */
export async function loadModel(source: ModelSource, options: WebLoadOptions = {}): Promise<DiffusionModel> {
  checkWebLoadOptions(options);
  // A URL is fetched with download progress and, when asked, kept in the page's Cache API.
  const { bytes, name } = await readBytes(source, 'loadModel', { progress: options.progress, cache: options.cache });
  const { ort, backend, sessionOptions } = await openRuntime(options);
  const precision = resolvePrecision(options.precision, backend === 'webgpu');
  const widened = precision === 'float32' && hasFloat16Weights(bytes, name)
    // the widening pass (protobuf code) is loaded only for a float16 model: a sampling page's bundle stays light
    ? await (await import('../onnx/upcast.js')).upcastModelBytes(bytes, name, async (location: string) => externalFile(sessionOptions, location, name))
    : undefined;
  const model = await DiffusionModel.create(ort, widened ?? bytes, { config: options.config, sessionOptions, source: name });
  backends.set(model, backend);
  return model;
}

/** The bytes of an external data file given in the session options (ORT's `externalData`), for the upcast. */
function externalFile(options: InferenceSession.SessionOptions, location: string, source: string): Uint8Array {
  for (const e of options.externalData ?? []) {
    if (typeof e !== 'string' && e.path === location && e.data instanceof Uint8Array) return e.data;
  }
  const how = `give its bytes in sessionOptions.externalData ([{ path: '${location}', data }])`;
  throw new DiffusionError(`${source}: its float16 weights are in '${location}'; ${how}`);
}

/**
 * Loads a model (unless given one) and returns `gen(options)`, which samples `n` images per call:
 * `const gen = await pipeline('model.onnx'); const { rgba } = await gen({ n: 4, steps: 20 })`.
 */
export async function pipeline(source: ModelSource | DiffusionModel, options: WebLoadOptions & WebStableDiffusionOptions = {}): Promise<ImagePipeline<DiffusionModel>> {
  if (source instanceof DiffusionModel) return imagePipeline(source, async () => {});
  // A folder URL ('.../tiny-sd/') is a diffusers text-to-image pipeline (web/sd.ts); its call takes { prompt, ... }.
  if (isFolderUrl(source)) return loadStableDiffusion(source, options) as unknown as ImagePipeline<DiffusionModel>;
  const model = await loadModel(source, options);
  return imagePipeline(model, () => model.dispose());
}

/** An RGBA image (e.g. one of `SampleResult.rgba`) as an ImageData for `ctx.putImageData`. */
export function toImageData(img: RgbaImage): ImageData {
  if (typeof ImageData === 'undefined') throw new DiffusionError('toImageData: ImageData exists only in a browser (or a worker); use the RgbaImage bytes directly');
  return new ImageData(new Uint8ClampedArray(img.rgba), img.width, img.height);
}

// Fine-tuning in the page (docs/web.md, "Fine-tune in the page").
export { Trainer } from './trainer';
export type { ExportOptions, FitOptions, FitResult, TrainStepReport, WebTrainerOptions } from './trainer';
export { imageDataset, readPixels, rgbaToChw } from './images';
export type { ImageDatasetOptions, ImageInput } from './images';
export { MemoryDataset } from '../data/memory';
export type { Dataset } from '../data/dataset';
export type { Batch } from '../data/loader';
export type { StepMemory } from '../train/step-memory';
export { webGpuAvailable } from './runtime';
export { fetchModel, ORT_WASM_FILES, type FetchModelOptions, type WebDownloadProgress } from './runtime';
export { checkWebLoadOptions, WEB_LOAD_OPTIONS } from './runtime';

// Stable Diffusion in the page: a diffusers ONNX folder URL, and the diffusers-parity schedulers.
import { isFolderUrl, loadStableDiffusion, type WebStableDiffusionOptions } from './sd';
export { loadStableDiffusion, externalDataFiles, type WebStableDiffusionPipeline } from './sd';
export { StableDiffusion, type StableDiffusionOptions, type SdResult, type SdStepInfo } from '../diffusion/sd/pipeline';
export { ClipTokenizer, type ClipTokens, type TokenizerFiles } from '../diffusion/sd/tokenizer';
export {
  createScheduler, registerScheduler, schedulerNames, DdimScheduler, EulerDiscreteScheduler, EulerAncestralScheduler, DpmSolverMultistepScheduler,
  PndmScheduler, type Scheduler, type SchedulerFactory, type NoiseSource,
} from '../diffusion/schedulers';

// Fine-tuning a diffusers folder from captioned pictures in the page (docs/captioned-training.md, "In the page").
import { createTrainer as createModelTrainer, type Trainer as ModelTrainer, type WebTrainerOptions as ModelTrainerOptions } from './trainer';
import { createSdTrainer, type SdTrainer, type SdTrainerOptions } from './sd-trainer';
export { SdTrainer, createSdTrainer, type SdTrainerOptions } from './sd-trainer';
export { listCaptionedData, captionedPixels, type CaptionedSet, type CaptionedSource } from './captioned-data';
export type { EncodeProgress, EncodedCaptions } from '../train/caption-encode';
export type { WebStableDiffusionOptions };

/**
 * A trainer. With the URL of a diffusers ONNX pipeline folder (ending in '/', as `pipeline(url)`)
 * and `{ data, lora? }`: fine-tuning its UNet on captioned pictures (SdTrainer). Otherwise a
 * model.onnx (URL, File, Blob or bytes), its config for a foreign export, and the options (Trainer).
 */
export function createTrainer(folder: string | URL, options: SdTrainerOptions): Promise<SdTrainer>;
export function createTrainer(model: ModelSource, config?: unknown, options?: ModelTrainerOptions): Promise<ModelTrainer>;
export function createTrainer(model: ModelSource, config?: unknown, options?: ModelTrainerOptions): Promise<ModelTrainer | SdTrainer> {
  if (isFolderUrl(model)) return createSdTrainer(model, config as SdTrainerOptions);
  return createModelTrainer(model, config, options);
}
export { clearEncodingCache } from './encoding-cache';
