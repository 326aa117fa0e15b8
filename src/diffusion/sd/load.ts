/**
 * Opening a diffusers ONNX folder (model_index.json, tokenizer/, text_encoder/, unet/,
 * vae_decoder/, vae_encoder/, scheduler/) through a FolderAccess, which the Node edge implements
 * over the file system and the page over fetch. Reads every config first, so a missing or bad
 * file is reported before any session is made.
 */
import type { InferenceSession } from 'onnxruntime-common';
import { DiffusionError, FileFormatError, OptionError } from '../../core/errors';
import type { Model, ValueInfo } from '../../onnx/ir';
import { isObj, type Obj } from '../../core/schema';
import { unetFolderConfig } from '../../core/diffusers-config';
import { ClipTokenizer } from './tokenizer';
import { StableDiffusion, type NamedSession, type SdOrt } from './pipeline';
import { encoderWithMeanLatents } from './vae';

/** A pipeline folder, read by relative paths (`unet/model.onnx`). */
export interface FolderAccess {
  /** The folder, as errors name it. */
  readonly source: string;
  /** The file's text, or undefined when there is none. */
  text(rel: string): Promise<string | undefined>;
  /** The file's bytes (the file must exist). */
  bytes(rel: string): Promise<Uint8Array>;
  /**
   * A session over `rel` (its external data resolved beside it), or over `bytes` when given (an
   * edited graph of the same file).
   */
  session(rel: string, bytes?: Uint8Array): Promise<InferenceSession>;
  /**
   * A session over `rel` (or `bytes`) with its float16 computation widened to float32
   * (src/onnx/upcast.ts); for a graph with no float16, the plain session or undefined (then
   * `session` makes it). An edge that runs float16 graphs as they are (precision 'float16') leaves
   * it out.
   */
  float32Session?(rel: string, bytes?: Uint8Array): Promise<InferenceSession | undefined>;
}

const UNET = 'unet/model.onnx';

/**
 * The folder with its UNet described (inputs and outputs as `unet`'s graph declares them) but given
 * no ONNX Runtime session: what a training run needs of the pipeline (the text encoder and VAE
 * encode its captions and pictures; the step graph holds the UNet's weights, and a session beside
 * it would hold them twice, a second 3.4 GB at SD-1.5 size). Sampling it fails with one line.
 * `unet` may be a header (decodeModelHeader): only its inputs and outputs are read.
 * @internal
 */
export function withUnopenedUnet(folder: FolderAccess, unet: Model): FolderAccess {
  const source = `${folder.source}/${UNET}`;
  const described = (vs: readonly ValueInfo[]) => vs.filter((v) => !unet.graph.initializers.has(v.name))
    .map((v) => ({ name: v.name, isTensor: true, type: v.dtype, shape: v.shape ?? [] }));
  const idle = (): never => {
    throw new DiffusionError(`${source}: not opened while the UNet trains; sample with the trained weights' pipeline`);
  };
  const inputMetadata = described(unet.graph.inputs);
  const outputMetadata = described(unet.graph.outputs);
  const unopened = async () => ({
    inputNames: inputMetadata.map((m) => m.name), outputNames: outputMetadata.map((m) => m.name), inputMetadata, outputMetadata,
    run: async () => idle(), release: async () => {}, startProfiling: idle, endProfiling: idle,
  }) as unknown as InferenceSession;
  const f32 = folder.float32Session;
  return {
    ...folder,
    session: (rel, bytes) => (rel === UNET ? unopened() : folder.session(rel, bytes)),
    ...(f32 ? { float32Session: (rel: string, bytes?: Uint8Array) => (rel === UNET ? unopened() : f32(rel, bytes)) } : {}),
  };
}

/**
 * The folder whose UNet session is made from `unet` (ONNX bytes with weights inline, e.g. an
 * adapter merged in) instead of its own file, through either session maker. @internal
 */
export function withUnetBytes(folder: FolderAccess, unet: Uint8Array): FolderAccess {
  const pick = (rel: string, bytes?: Uint8Array) => bytes ?? (rel === UNET ? unet : undefined);
  const f32 = folder.float32Session;
  return {
    ...folder,
    session: (rel, bytes) => folder.session(rel, pick(rel, bytes)),
    ...(f32 ? { float32Session: (rel: string, bytes?: Uint8Array) => f32(rel, pick(rel, bytes)) } : {}),
  };
}

/**
 * How float16 parts run: 'float32' widens them to float32 when their sessions are made, 'float16'
 * runs them as exported, 'auto' (the default) picks by execution provider: float16 on CUDA and
 * WebGPU, which have float16 kernels; float32 on the CPU and wasm ones, where ONNX Runtime would
 * wrap most float16 ops in Casts and run at half the speed (docs/stable-diffusion.md, "float16 exports").
 */
export type Precision = 'auto' | 'float32' | 'float16';

/** The precision a provider runs float16 parts in under `precision`; throws on a bad value. */
export function resolvePrecision(precision: unknown, halfProvider: boolean): 'float32' | 'float16' {
  if (precision === undefined || precision === 'auto') return halfProvider ? 'float16' : 'float32';
  if (precision === 'float32' || precision === 'float16') return precision;
  throw new OptionError('precision', `must be auto, float32 or float16, got ${JSON.stringify(precision)}`);
}

/** The text encoder's token length, when its graph fixes it (else the tokenizer's). */
function fixedLength(s: InferenceSession): number | undefined {
  const m = (s.inputMetadata ?? []).find((x) => x.name === 'input_ids');
  return m && m.isTensor && typeof m.shape[1] === 'number' ? m.shape[1] : undefined;
}

async function json(folder: FolderAccess, rel: string): Promise<Obj | undefined> {
  const text = await folder.text(rel);
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(`${folder.source}/${rel}`, `not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObj(v)) throw new FileFormatError(`${folder.source}/${rel}`, 'expected a JSON object');
  return v;
}

/** SD 1.x's latent scale, for a VAE without a config (diffusers' AutoencoderKL default). */
export const DEFAULT_SCALING_FACTOR = 0.18215;

/** Reads the folder's configs and tokenizer and makes the sessions. */
export async function openStableDiffusion(folder: FolderAccess, ort: SdOrt): Promise<StableDiffusion> {
  const src = folder.source;
  const tokenizerFiles = {
    tokenizerJson: await folder.text('tokenizer/tokenizer.json'),
    tokenizerConfig: await folder.text('tokenizer/tokenizer_config.json'),
    specialTokensMap: await folder.text('tokenizer/special_tokens_map.json'),
    vocabJson: await folder.text('tokenizer/vocab.json'),
    mergesTxt: await folder.text('tokenizer/merges.txt'),
  };
  const schedulerRel = 'scheduler/scheduler_config.json';
  const schedulerConfig = await json(folder, schedulerRel);
  if (!schedulerConfig) throw new FileFormatError(`${src}/${schedulerRel}`, 'not found (a diffusers pipeline folder has scheduler/scheduler_config.json)');
  const vaeConfig = (await json(folder, 'vae_decoder/config.json')) ?? (await json(folder, 'vae/config.json'));
  const scaling = vaeConfig?.scaling_factor ?? DEFAULT_SCALING_FACTOR;
  if (typeof scaling !== 'number' || !(scaling > 0)) {
    throw new FileFormatError(`${src}/vae_decoder/config.json`, `scaling_factor: expected a number > 0, got ${String(scaling)}`);
  }
  const blocks = vaeConfig?.block_out_channels;
  const vaeScaleFactor = Array.isArray(blocks) && blocks.length > 0 ? 2 ** (blocks.length - 1) : 8;
  const unetJson = await json(folder, 'unet/config.json');
  const sampleSize = unetJson ? unetFolderConfig(unetJson, `${src}/unet/config.json`).sampleSize : undefined;

  const sessions: NamedSession[] = [];
  const open = async (rel: string): Promise<NamedSession> => {
    const session = (await folder.float32Session?.(rel)) ?? (await folder.session(rel));
    const s = { session, source: `${src}/${rel}` };
    sessions.push(s);
    return s;
  };
  try {
    const textEncoder = await open('text_encoder/model.onnx');
    const tokenizer = ClipTokenizer.fromFiles(tokenizerFiles, `${src}/tokenizer`, fixedLength(textEncoder.session));
    const unet = await open('unet/model.onnx');
    const vaeDecoder = await open('vae_decoder/model.onnx');
    const encoderRel = 'vae_encoder/model.onnx';
    const vaeEncoder = async (): Promise<NamedSession> => {
      const source = `${src}/${encoderRel}`;
      const bytes = encoderWithMeanLatents(await folder.bytes(encoderRel), source);
      return { session: (await folder.float32Session?.(encoderRel, bytes)) ?? (await folder.session(encoderRel, bytes)), source };
    };
    return new StableDiffusion({
      source: src, tokenizer, textEncoder, unet, vaeDecoder, vaeEncoder,
      schedulerConfig, schedulerSource: `${src}/${schedulerRel}`, scalingFactor: scaling, vaeScaleFactor, sampleSize,
    }, ort);
  } catch (e) {
    await Promise.all(sessions.map((s) => s.session.release()));
    throw e;
  }
}
