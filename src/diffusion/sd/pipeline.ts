/**
 * Stable Diffusion from a diffusers ONNX folder, as diffusers' StableDiffusionPipeline and
 * StableDiffusionImg2ImgPipeline (v0.27.2) run it: prompt -> CLIP ids -> text embeddings; latents
 * from the seeded Rng (or given) times the scheduler's init sigma; per timestep the UNet on the
 * batch [uncond, cond] and classifier-free guidance eps = u + g (c - u); the scheduler's step;
 * then the VAE decoder on latents / scaling_factor. Isomorphic: the sessions are made by the
 * Node (runtime/sd.ts) or page (web/sd.ts) edge.
 *
 * Noise order for a seed: the starting latents (n images), then for img2img the noise added to
 * the encoded image, then one array per step for an ancestral scheduler.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import { DiffusionError, OptionError } from '../../core/errors';
import { Rng } from '../../core/rng';
import { toRgba, rgbaToChw, type RgbaImage } from '../../image/pixels';
import { floatToHalf, halfToFloat } from '../../onnx/tensor';
import type { SampleResult } from '../sampler';
import { createScheduler, type Scheduler } from '../schedulers';
import { runTimesteps, throwIfAborted } from '../samplers/loop';
import type { ClipTokenizer } from './tokenizer';

/** The part of an onnxruntime module the pipeline uses (onnxruntime-node or onnxruntime-web). */
export interface SdOrt {
  Tensor: new (
    type: 'float32' | 'float16' | 'int32' | 'int64', data: Float32Array | Uint16Array | Int32Array | BigInt64Array, dims: readonly number[],
  ) => OrtTensor;
}

/** A session and the file it came from (for errors). */
export interface NamedSession {
  session: InferenceSession;
  source: string;
}

/** What a folder gives the pipeline (diffusion/sd/load.ts reads it). */
export interface SdParts {
  /** The folder (a path or URL), for errors. */
  source: string;
  tokenizer: ClipTokenizer;
  textEncoder: NamedSession;
  unet: NamedSession;
  vaeDecoder: NamedSession;
  /** Made on first use (img2img only); its RandomNormalLike draw is replaced by the mean. */
  vaeEncoder?: () => Promise<NamedSession>;
  schedulerConfig: unknown;
  schedulerSource: string;
  /** vae config's scaling_factor (0.18215 when absent, SD 1.x's). */
  scalingFactor: number;
  /** Pixels per latent (2 ** (len(vae block_out_channels) - 1); 8 when unknown, SD's). */
  vaeScaleFactor: number;
  /** The UNet's sample_size (latents), when its config says it. */
  sampleSize?: number;
}

/** One step's progress. */
export interface SdStepInfo {
  /** 0-based index of the step just taken. */
  step: number;
  total: number;
  /** The timestep the UNet saw. */
  t: number;
  /** The latents after this step, NCHW. */
  latents: Float32Array;
}

/** Options of one text-to-image or image-to-image call (diffusers' names in camelCase). */
export interface StableDiffusionOptions {
  prompt: string;
  /** The unconditional branch of guidance (default "": diffusers' default). */
  negativePrompt?: string;
  /** Images per call (default 1). */
  n?: number;
  /** Classifier-free guidance scale (default 7.5); at most 1 runs the conditional branch alone. */
  guidance?: number;
  /** Scheduler steps (default 50, diffusers'). */
  steps?: number;
  /** A registered scheduler name (default: the folder's scheduler_config.json class). */
  sampler?: string;
  /** Seed of the Rng for latents and noise (default 0). */
  seed?: number;
  /**
   * Starting latents, NCHW for n images (or one, repeated), before init-sigma scaling; with an init
   * image, the noise added to its latents.
   */
  latents?: Float32Array;
  /** Output size in pixels (default the UNet's sample_size times the VAE factor, else 512). */
  height?: number;
  width?: number;
  /** img2img: the start image, float CHW in [-1, 1] or RGBA, of height x width. */
  image?: Float32Array | RgbaImage;
  /** img2img: how much of the schedule to run from the noised image, in (0, 1] (default 0.8). */
  strength?: number;
  onStep?: (info: SdStepInfo) => void | Promise<void>;
  signal?: AbortSignal;
  /** Non-fatal problems (a prompt longer than the encoder, truncated); default console.warn. */
  onWarning?: (message: string) => void;
}

/** The images (as the existing pipeline returns them) and the final latents. */
export interface SdResult extends SampleResult {
  latents: Float32Array;
}

const OPTION_KEYS = new Set([
  'prompt', 'negativePrompt', 'n', 'guidance', 'steps', 'sampler', 'seed', 'latents', 'height', 'width', 'image', 'strength',
  'onStep', 'signal', 'onWarning',
]);

function intOption(v: unknown, name: string, lo: number, hi: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new OptionError(name, `must be an integer in [${lo}, ${hi}], got ${String(v)}`);
  return v;
}

function inputInfo(s: NamedSession, name: string): { type: string; shape: readonly (number | string)[] } | undefined {
  const m = (s.session.inputMetadata ?? []).find((x) => x.name === name);
  return m && m.isTensor ? { type: m.type, shape: m.shape } : undefined;
}

function requireInput(s: NamedSession, name: string, what: string): void {
  if (!s.session.inputNames.includes(name)) {
    throw new DiffusionError(`${s.source}: no input '${name}' (${what}); inputs: ${s.session.inputNames.join(', ')}`);
  }
}

/**
 * A float input fed in the dtype the graph declares: float16 exports (optimum's --fp16) take
 * float16, as raw bits; the pipeline's own math stays float32, as diffusers upcasts.
 */
function floatFeed(ort: SdOrt, s: NamedSession, name: string, data: Float32Array, dims: readonly number[]): OrtTensor {
  const type = inputInfo(s, name)?.type;
  return type === 'float16' ? new ort.Tensor('float16', Uint16Array.from(data, floatToHalf), dims) : new ort.Tensor('float32', data, dims);
}

/** A float output as float32: float16 bits (Uint16Array, or a Float16Array where the runtime has one) are widened. */
function float32Output(data: unknown): Float32Array {
  if (data instanceof Float32Array) return data;
  if (data instanceof Uint16Array) return Float32Array.from(data, halfToFloat);
  return Float32Array.from(data as ArrayLike<number>);
}

async function run(s: NamedSession, feeds: Record<string, OrtTensor>, output?: string): Promise<{ data: Float32Array; dims: readonly number[] }> {
  let res: InferenceSession.ReturnType;
  try {
    res = await s.session.run(feeds);
  } catch (e) {
    throw new DiffusionError(`${s.source}: ONNX Runtime run failed: ${String((e as Error).message).split('\n')[0]}`);
  }
  const name = output && output in res ? output : s.session.outputNames[0];
  const t = res[name];
  if (t.type !== 'float32' && t.type !== 'float16') throw new DiffusionError(`${s.source}: output '${name}' is ${t.type}, expected float32 or float16`);
  return { data: float32Output(t.data), dims: t.dims };
}

const TIMESTEP_TYPES = ['float32', 'float16', 'int64', 'int32'];

export class StableDiffusion {
  private encoder: NamedSession | undefined;
  private readonly latentChannels: number;

  constructor(readonly parts: SdParts, private readonly ort: SdOrt) {
    requireInput(parts.textEncoder, 'input_ids', 'token ids');
    requireInput(parts.unet, 'sample', 'the noisy latents');
    requireInput(parts.unet, 'timestep', 'the timestep');
    requireInput(parts.unet, 'encoder_hidden_states', 'the text embeddings');
    requireInput(parts.vaeDecoder, 'latent_sample', 'the latents');
    const t = inputInfo(parts.unet, 'timestep');
    if (t && !TIMESTEP_TYPES.includes(t.type)) {
      throw new DiffusionError(`${parts.unet.source}: input 'timestep' is ${t.type}, expected one of ${TIMESTEP_TYPES.join(', ')}`);
    }
    const s = inputInfo(parts.unet, 'sample');
    for (const [part, input] of [[parts.unet, 'sample'], [parts.unet, 'encoder_hidden_states'], [parts.vaeDecoder, 'latent_sample']] as const) {
      const info = inputInfo(part, input);
      if (info && info.type !== 'float32' && info.type !== 'float16') {
        throw new DiffusionError(`${part.source}: input '${input}' is ${info.type}, expected float32 or float16`);
      }
    }
    this.latentChannels = s && typeof s.shape[1] === 'number' ? s.shape[1] : 4;
    // the folder's scheduler config is checked at load, not at the first call
    this.scheduler();
  }

  /** A scheduler for this folder: `sampler` by name, else the config's class. */
  scheduler(sampler?: string): Scheduler {
    return createScheduler(this.parts.schedulerConfig, this.parts.schedulerSource, sampler);
  }

  /**
   * The text encoder's last_hidden_state for one prompt, [1, maxLength, width], and how many
   * prompt tokens were truncated. Reusable to encode a training set's captions.
   */
  async encodePrompt(text: string): Promise<{ embeddings: Float32Array; dims: readonly number[]; truncated: number }> {
    const { ids, truncated } = this.parts.tokenizer.encode(text);
    const info = inputInfo(this.parts.textEncoder, 'input_ids');
    const dims = [1, ids.length];
    const feed = info?.type === 'int64'
      ? new this.ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), dims)
      : new this.ort.Tensor('int32', ids, dims);
    const out = await run(this.parts.textEncoder, { input_ids: feed }, 'last_hidden_state');
    return { embeddings: out.data, dims: out.dims, truncated };
  }

  /** Latents of images (float NCHW in [-1, 1]) through the VAE encoder's mean, times scaling_factor. */
  async encodeImages(images: Float32Array, n: number, height: number, width: number): Promise<{ data: Float32Array; dims: readonly number[] }> {
    if (!this.parts.vaeEncoder) throw new DiffusionError(`${this.parts.source}: no vae_encoder/model.onnx, needed for an init image (img2img)`);
    this.encoder ??= await this.parts.vaeEncoder();
    const out = await run(this.encoder, { sample: floatFeed(this.ort, this.encoder, 'sample', images, [n, 3, height, width]) }, 'latent_sample');
    return { data: out.data.map((v) => v * this.parts.scalingFactor), dims: out.dims };
  }

  /** Images (NCHW, about [-1, 1], not clamped) from latents [n, c, h, w]: the decoder on latents / scaling_factor. */
  async decodeLatents(latents: Float32Array, dims: readonly number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
    const scaled = latents.map((v) => v / this.parts.scalingFactor);
    return run(this.parts.vaeDecoder, { latent_sample: floatFeed(this.ort, this.parts.vaeDecoder, 'latent_sample', scaled, dims) }, 'sample');
  }

  /** One text-to-image (or, with `image`, image-to-image) call. */
  async generate(options: StableDiffusionOptions): Promise<SdResult> {
    if (typeof options !== 'object' || options === null) throw new OptionError('options', 'must be an object with at least a prompt');
    for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) {
      throw new OptionError(k, `is not an option (expected one of ${[...OPTION_KEYS].join(', ')})`);
    }
    const { prompt, negativePrompt = '', signal, onStep } = options;
    const warn = options.onWarning ?? ((m: string) => console.warn(m));
    if (typeof prompt !== 'string') throw new OptionError('prompt', `must be a string, got ${typeof prompt}`);
    if (typeof negativePrompt !== 'string') throw new OptionError('negativePrompt', `must be a string, got ${typeof negativePrompt}`);
    const n = intOption(options.n, 'n', 1, 64, 1);
    const seed = intOption(options.seed, 'seed', 0, 2 ** 32 - 1, 0);
    const guidance = options.guidance ?? 7.5;
    if (typeof guidance !== 'number' || !Number.isFinite(guidance) || guidance < 0) {
      throw new OptionError('guidance', `must be a number >= 0, got ${String(guidance)}`);
    }
    const scheduler = this.scheduler(options.sampler);
    const steps = intOption(options.steps, 'steps', 1, scheduler.trainTimesteps, 50);
    const img2img = options.image !== undefined;
    const strength = options.strength ?? 0.8;
    if (options.strength !== undefined && !img2img) throw new OptionError('strength', 'needs an init image (`image`)');
    if (typeof strength !== 'number' || !(strength > 0 && strength <= 1)) {
      throw new OptionError('strength', `must be a number in (0, 1], got ${String(strength)}`);
    }
    // The latent size: txt2img from height/width over the VAE factor; img2img from the encoder's
    // output for the image (its size is the output size).
    const f = this.parts.vaeScaleFactor;
    const rgbaSize = img2img && !(options.image instanceof Float32Array) ? options.image! : undefined;
    const defaultSize = (this.parts.sampleSize ?? 64) * f;
    const height = intOption(options.height, 'height', img2img ? 1 : f, 16384, rgbaSize?.height ?? defaultSize);
    const width = intOption(options.width, 'width', img2img ? 1 : f, 16384, rgbaSize?.width ?? defaultSize);
    if (!img2img && (height % f !== 0 || width % f !== 0)) {
      throw new OptionError(height % f !== 0 ? 'height' : 'width', `must be a multiple of ${f} (the VAE's scale), got ${height % f !== 0 ? height : width}`);
    }
    const init = img2img ? await this.encodeImages(startImages(options.image!, n, height, width), n, height, width) : undefined;
    const dims = init ? [n, ...init.dims.slice(1)] : [n, this.latentChannels, height / f, width / f];
    const [, c, lh, lw] = dims;
    const per = c * lh * lw;

    // 1. text embeddings, [uncond x n, cond x n] as diffusers' batch
    const cond = await this.encodePrompt(prompt);
    if (cond.truncated > 0) warn(`prompt: ${cond.truncated} tokens beyond the text encoder's ${this.parts.tokenizer.maxLength} were truncated`);
    const cfg = guidance > 1;
    const uncond = cfg ? await this.encodePrompt(negativePrompt) : undefined;
    if (uncond && uncond.truncated > 0) {
      warn(`negativePrompt: ${uncond.truncated} tokens beyond the text encoder's ${this.parts.tokenizer.maxLength} were truncated`);
    }
    const [, L, D] = cond.dims;
    const rows = cfg ? [...Array(n).fill(uncond!.embeddings), ...Array(n).fill(cond.embeddings)] : Array(n).fill(cond.embeddings);
    const context = new Float32Array(rows.length * L * D);
    rows.forEach((e: Float32Array, i) => context.set(e, i * L * D));
    const contextTensor = floatFeed(this.ort, this.parts.unet, 'encoder_hidden_states', context, [rows.length, L, D]);

    // 2. timesteps and starting latents
    scheduler.setTimesteps(steps);
    const rng = new Rng(seed);
    let timesteps = scheduler.timesteps;
    let x: Float32Array;
    const given = options.latents;
    if (given !== undefined) {
      if (!(given instanceof Float32Array) || (given.length !== per && given.length !== per * n)) {
        const got = given instanceof Float32Array ? given.length : typeof given;
        throw new OptionError('latents', `must be a Float32Array of ${per * n} values ([${dims.join(', ')}]) or ${per} (one image's), got ${got}`);
      }
    }
    const noise = given === undefined ? rng.normalArray(per * n) : repeat(given, per, n);
    if (init) {
      // diffusers img2img get_timesteps: run the last min(floor(steps * strength), steps) timesteps
      const kept = Math.min(Math.floor(steps * strength), steps);
      timesteps = timesteps.subarray((steps - kept) * scheduler.order);
      if (timesteps.length === 0) throw new OptionError('strength', `${strength} with ${steps} steps runs no step (steps * strength < 1)`);
      x = scheduler.addNoise(init.data, noise, timesteps[0]);
    } else {
      x = noise.map((v) => v * scheduler.initNoiseSigma);
    }

    // 3. the denoising loop: runTimesteps (samplers/loop.ts), the loop body every scheduler is
    // driven by; `net` is this pipeline's network call: the batch doubled for guidance, each input
    // in the dtype the UNet declares, then classifier-free guidance on its output
    const unetIn = inputInfo(this.parts.unet, 'timestep');
    const batch = cfg ? 2 * n : n;
    const tLen = unetIn && unetIn.shape[0] === 1 ? 1 : batch;
    const net = async (xin: Float32Array, t: number): Promise<Float32Array> => {
      const sample = new Float32Array(batch * per);
      sample.set(xin);
      if (cfg) sample.set(xin, n * per);
      // the timestep in the declared dtype (integer timesteps up to 2048 are exact in float16)
      const tFeed = unetIn?.type === 'int64'
        ? new this.ort.Tensor('int64', new BigInt64Array(tLen).fill(BigInt(Math.round(t))), [tLen])
        : unetIn?.type === 'int32'
          ? new this.ort.Tensor('int32', new Int32Array(tLen).fill(Math.round(t)), [tLen])
          : floatFeed(this.ort, this.parts.unet, 'timestep', new Float32Array(tLen).fill(t), [tLen]);
      const out = await run(this.parts.unet, {
        sample: floatFeed(this.ort, this.parts.unet, 'sample', sample, [batch, c, lh, lw]),
        timestep: tFeed,
        encoder_hidden_states: contextTensor,
      }, 'out_sample');
      if (out.data.length !== batch * per) {
        throw new DiffusionError(`${this.parts.unet.source}: out_sample has ${out.data.length} values, expected ${batch * per}`);
      }
      if (!cfg) return out.data.subarray(0, n * per);
      // classifier-free guidance (Ho & Salimans 2022): eps = eps_u + g (eps_c - eps_u)
      const u = out.data.subarray(0, n * per), co = out.data.subarray(n * per);
      return u.map((v, k) => v + guidance * (co[k] - v));
    };
    const report = onStep && ((i: number, t: number, latents: Float32Array) => onStep({ step: i, total: timesteps.length, t, latents }));
    x = await runTimesteps(scheduler, x, timesteps, net, rng, { signal, report });
    throwIfAborted(signal);

    // 4. decode: images = decoder(latents / scaling_factor), clamped to [-1, 1]
    const img = await this.decodeLatents(x, dims);
    const [, ch, h, w] = img.dims;
    const images = img.data.map((v) => Math.min(1, Math.max(-1, v)));
    return { n, c: ch, h, w, images, rgba: toRgba(images, n, ch, h, w), latents: x };
  }

  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void> {
    return this.dispose();
  }

  /** Frees every session. */
  async dispose(): Promise<void> {
    const all = [this.parts.textEncoder, this.parts.unet, this.parts.vaeDecoder, this.encoder].filter((s): s is NamedSession => s !== undefined);
    this.encoder = undefined;
    await Promise.all(all.map((s) => s.session.release()));
  }
}

/** `src` of one item's `per` values or n items' as n items'. */
function repeat(src: Float32Array, per: number, n: number): Float32Array {
  if (src.length === per * n) return src.slice();
  const out = new Float32Array(per * n);
  for (let i = 0; i < n; i++) out.set(src, i * per);
  return out;
}

/** The init image as float NCHW for n images, checked against the output size. */
function startImages(image: Float32Array | RgbaImage, n: number, height: number, width: number): Float32Array {
  const per = 3 * height * width;
  if (image instanceof Float32Array) {
    if (image.length !== per) throw new OptionError('image', `must be float CHW [3, ${height}, ${width}] (${per} values), got ${image.length} values`);
    return repeat(image, per, n);
  }
  if (typeof image !== 'object' || image === null || !(image.rgba instanceof Uint8Array)) {
    throw new OptionError('image', 'must be float CHW in [-1, 1] or an RGBA image {width, height, rgba}');
  }
  if (image.width !== width || image.height !== height) {
    throw new OptionError('image', `must be ${width}x${height} (the output size), got ${image.width}x${image.height}`);
  }
  if (image.rgba.length !== width * height * 4) throw new OptionError('image', `has ${image.rgba.length} RGBA bytes, expected ${width * height * 4}`);
  return repeat(rgbaToChw(image, 3), per, n);
}
