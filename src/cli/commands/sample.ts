import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CommandModule } from 'yargs';
import { CreateSamplerOptions, createSampler, type ShapedValues } from '../../diffusion/sampler';
import { ModelConfig } from '../../core/model-config';
import { loadCascade, loadEnsemble } from '../../runtime/cascades';
import type { SamplerModel } from '../../diffusion/sampler';
import { DEFAULT_SCHEDULER, modelScheduler, type SchedulerSettings } from '../../diffusion/schedulers';
import { DiffusionError } from '../../core/errors';
import { imageToRgba, makeGrid, makeStrip, readImage, RgbaImage, writeAnimation, writeImage } from '../../image';
import { availableMemory } from '../../core/node/memory';
import { shippedDoc } from '../../core/node/package-files';
import { checkRecipeBudget } from '../../nn/recipe-budget';
import { type Recipe, validateRecipe } from '../../core/recipe';
import { loadModel } from '../../runtime/load';
import type { Precision } from '../../diffusion/sd/load';
import { npyToFloat32 } from '../../data/npy';
import { readNpyFile } from '../../data/npy-file';
import type { Device } from '../../runtime/node';
import { checkSeed } from '../flags';
import { formatSeconds, startProgress } from '../progress';
import { checkPromptModel, sampleFromStableDiffusion, sdOptions, type SdSampleArgs } from './sample-sd';

export interface SampleArgs extends SdSampleArgs {
  model?: string;
  /** A cascade file (stages of super-resolution models). */
  pipeline?: string;
  /** An experts file (timestep-range experts of one model). */
  ensemble?: string;
  config?: string;
  sampler?: string;
  steps?: number;
  eta?: number;
  n: number;
  batch?: number;
  seed: number;
  class?: string;
  guidance?: number;
  labels?: string;
  cond?: string;
  /** Conditioning inputs of any name: `name=FILE.npy`, repeatable. */
  input?: string[];
  lora?: string;
  'aug-level'?: number;
  out: string;
  each?: string;
  process?: string;
  'process-steps'?: string;
  upscale: number;
  border: number;
  cols?: number;
  device: string;
  'device-id': number;
  threads?: number;
  spacing?: string;
  variance?: string;
  /** Unset: the model's own default (its scheduler's clip_sample, else on). */
  clip?: boolean;
}

/** What any generator (one model today; a cascade or an expert ensemble later) hands to the writers. */
export interface SampleOutcome {
  /** The final images, in order. */
  images: RgbaImage[];
  /** The recorded denoising process: images at each chosen step index. */
  frames: { step: number; images: RgbaImage[] }[];
  /** Denoising steps taken (summed over batches) and the time they took. */
  steps: number;
  seconds: number;
}

// ---- argument checks shared by sample, dataset and forward ----

/** A positive integer flag, or a one-line error naming it. */
export function positiveInt(flag: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new DiffusionError(`--${flag} must be a positive integer, got ${v}`);
  return v;
}

export function nonNegativeInt(flag: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new DiffusionError(`--${flag} must be a non-negative integer, got ${v}`);
  return v;
}

/** "0,10,20" -> [0, 10, 20]; every entry an integer. */
export function intList(flag: string, s: string): number[] {
  const parts = String(s).split(',').map((p) => p.trim());
  const out = parts.map(Number);
  if (parts.some((p) => p === '') || out.some((v) => !Number.isInteger(v))) {
    throw new DiffusionError(`--${flag} must be a comma-separated list of integers, got "${s}"`);
  }
  return out;
}

/** Rejects output paths whose extension no writer handles, before any work is done. */
export function checkExtension(flag: string, file: string, allowed: readonly string[]): string {
  const ext = path.extname(file).toLowerCase();
  if (!allowed.includes(ext)) throw new DiffusionError(`--${flag} ${file}: unsupported extension '${ext}' (use ${allowed.join(', ')})`);
  return ext;
}

export function checkDevice(device: string): Device {
  if (device !== 'cpu' && device !== 'cuda') throw new DiffusionError(`--device must be cpu or cuda, got "${device}"`);
  return device;
}

/** k indices evenly spaced over [0, total - 1], first and last included, without repeats. */
export function evenSteps(total: number, k: number): number[] {
  if (total <= k) return Array.from({ length: total }, (_, i) => i);
  const out = new Set<number>();
  for (let i = 0; i < k; i++) out.add(Math.round((i * (total - 1)) / (k - 1)));
  return [...out];
}

// ---- from flags to sampler options, checked against the model's config ----

/** createSampler's options from the checked flags. */
export function samplerConfig(flags: SamplerFlags): CreateSamplerOptions {
  return flags;
}

const IMAGE_EXTS = ['.png', '.webp', '.jpg', '.jpeg'] as const;
const PROCESS_EXTS = ['.png', '.gif', '.webp'] as const;
/** Default columns of a process strip, and the most frames an animation gets by default. */
const STRIP_STEPS = 8;
const ANIMATION_FRAMES = 40;

/**
 * The number of loop steps (network calls, onStep reports) a run will take: the length of the
 * scheduler's timesteps (heun lists 2n - 1 calls for n steps). Made with `settings`, the scheduler
 * checks them (the one place sampler options are checked).
 */
export function plannedSteps(config: ModelConfig, sampler: string, steps: number | undefined, settings: SchedulerSettings = {}): number {
  const s = modelScheduler(config, sampler, { ...settings, steps });
  s.setTimesteps(steps ?? s.defaultSteps);
  return s.timesteps.length;
}

function parseClasses(spec: string, config: ModelConfig): number[] {
  const k = config.conditioning.classes;
  if (k === undefined) throw new DiffusionError('--class given but the model is not class-conditional');
  const names = (config.classNames ?? []).map((s) => s.toLowerCase());
  return String(spec).split(',').map((raw) => {
    const s = raw.trim();
    const byName = names.indexOf(s.toLowerCase());
    const id = /^\d+$/.test(s) ? Number(s) : byName;
    if (id < 0) throw new DiffusionError(`--class "${s}" is not a class id${names.length ? ` or name (${config.classNames!.join(', ')})` : ''}`);
    if (id >= k) throw new DiffusionError(`--class ${id} is outside [0, ${k - 1}] (the model has ${k} classes)`);
    return id;
  });
}

function parseLabels(spec: string, config: ModelConfig, n: number): number[] {
  const L = config.conditioning.labels;
  if (L === undefined) throw new DiffusionError('--labels given but the model takes no label vector');
  const v = String(spec).split(',').map((p) => Number(p.trim()));
  if (v.some((x) => !Number.isFinite(x))) throw new DiffusionError(`--labels must be comma-separated numbers, got "${spec}"`);
  if (v.length !== L && v.length !== L * n) throw new DiffusionError(`--labels needs ${L} values (or ${L * n}, one vector per image), got ${v.length}`);
  return v;
}

/** Nearest-neighbour resize of CHW floats from `from` x `from` to `to` x `to`. */
function resizeNearest(x: Float32Array, c: number, from: number, to: number): Float32Array {
  const out = new Float32Array(c * to * to);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < to; y++) {
      const sy = Math.floor((y * from) / to);
      for (let xx = 0; xx < to; xx++) out[(ch * to + y) * to + xx] = x[(ch * from + sy) * from + Math.floor((xx * from) / to)];
    }
  }
  return out;
}

/** The condition image at the model's size; a super-resolution model's is read small and upsampled. */
export async function readCondImage(file: string, config: ModelConfig): Promise<Float32Array> {
  const cc = config.conditioning.condChannels;
  if (cc === undefined) throw new DiffusionError('--cond given but the model takes no condition image');
  if (cc !== 1 && cc !== 3) throw new DiffusionError(`the model's condition has ${cc} channels; --cond reads 1 (grey) or 3 (RGB)`);
  if (!fs.existsSync(file)) throw new DiffusionError(`--cond ${file}: no such file`);
  const size = config.image.size;
  const low = config.conditioning.lowResSize;
  if (low === undefined || low === size) return readImage(file, { channels: cc, size });
  return resizeNearest(await readImage(file, { channels: cc, size: low }), cc, low, size);
}

/** `--input name=FILE.npy` flags -> values per conditioning input (one image's, or n images'). */
export function readInputs(flags: string[], config: ModelConfig): Record<string, ShapedValues> {
  const names = (config.conditioning.inputs ?? []).map((i) => i.name);
  const out: Record<string, ShapedValues> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq < 1) throw new DiffusionError(`--input must look like NAME=FILE.npy, got '${flag}'`);
    const name = flag.slice(0, eq);
    const file = flag.slice(eq + 1);
    if (!names.includes(name)) throw new DiffusionError(`--input ${name}: not a conditioning input of this model (it has: ${names.join(', ') || 'none'})`);
    if (!fs.existsSync(file)) throw new DiffusionError(`--input ${name}=${file}: no such file`);
    const npy = readNpyFile(file, `--input ${name} .npy file`);
    out[name] = { data: npyToFloat32(npy), dims: npy.shape };
  }
  return out;
}

/** The sampler options from flags, the scheduler named (the model kind's own by default). */
export type SamplerFlags = Omit<CreateSamplerOptions, 'sampler'> & { sampler: string };

/** Checks every model-dependent flag and returns the sampler's options. */
export async function samplerOptions(args: SampleArgs, config: ModelConfig): Promise<SamplerFlags> {
  const { kind, conditioning: cc } = config;
  const T = config.diffusion.timesteps;
  const gaussian = kind === 'gaussian';
  // The model's recommended sampling (its metadata) unless the flags say otherwise, as pipeline() (diffusion/generate.ts).
  const rec = gaussian ? config.sampling : undefined;
  const sampler = args.sampler ?? rec?.sampler ?? DEFAULT_SCHEDULER[kind];
  const recSteps = args.sampler === undefined ? rec?.steps : undefined;
  if (args.steps !== undefined) positiveInt('steps', args.steps);
  const opts: SamplerFlags = {
    sampler,
    steps: args.steps ?? recSteps,
    eta: args.eta,
    seed: args.seed,
    clipX0: args.clip,
    spacing: args.spacing as CreateSamplerOptions['spacing'],
    variance: args.variance as CreateSamplerOptions['variance'],
    batch: args.batch,
  };
  // The scheduler checks the name against the model's kind and each setting, once (schedulers/index.ts).
  plannedSteps(config, sampler, opts.steps, { eta: opts.eta, spacing: opts.spacing, variance: opts.variance, clipX0: opts.clipX0 });
  if (args.class !== undefined) opts.classes = parseClasses(args.class, config);
  if (args.guidance !== undefined) {
    if (cc.classes === undefined && cc.labels === undefined && !cc.inputs) throw new DiffusionError('--guidance needs a conditional model (classes, labels or conditioning inputs)');
    if (!(Number.isFinite(args.guidance) && args.guidance >= 0)) throw new DiffusionError(`--guidance must be a number >= 0, got ${args.guidance}`);
    opts.guidance = args.guidance;
  } else if (rec?.guidance !== undefined) opts.guidance = rec.guidance;
  if (args.labels !== undefined) opts.labels = parseLabels(args.labels, config, args.n);
  if (args.input !== undefined) opts.inputs = readInputs(args.input, config);
  if (args.cond !== undefined) opts.cond = await readCondImage(args.cond, config);
  else if (cc.condChannels !== undefined) throw new DiffusionError(`the model is image-conditioned (${cc.condChannels} channels): pass --cond image.png`);
  if (args['aug-level'] !== undefined) {
    if (!cc.augment) throw new DiffusionError('--aug-level applies to models with noise-conditioning augmentation only');
    if (!Number.isInteger(args['aug-level']) || args['aug-level'] < 0 || args['aug-level'] >= T) {
      throw new DiffusionError(`--aug-level must be an integer in [0, ${T - 1}], got ${args['aug-level']}`);
    }
    opts.augLevel = args['aug-level'];
  }
  return opts;
}

/** Which step indices to record for --process (validated against the run's step count). */
export function processSteps(args: SampleArgs, total: number): number[] {
  if (args['process-steps'] === undefined) {
    const animated = path.extname(args.process ?? '').toLowerCase() !== '.png';
    return evenSteps(total, animated ? ANIMATION_FRAMES : STRIP_STEPS);
  }
  const steps = intList('process-steps', args['process-steps']);
  for (const s of steps) {
    if (s < 0 || s >= total) throw new DiffusionError(`--process-steps: step ${s} is outside [0, ${total - 1}] (this run takes ${total} steps)`);
  }
  return steps;
}

/** Flags that need no model: counts, output files, device. */
export function checkArgs(args: SampleArgs): void {
  positiveInt('n', args.n);
  if (args.batch !== undefined) positiveInt('batch', args.batch);
  positiveInt('upscale', args.upscale);
  nonNegativeInt('border', args.border);
  if (args.cols !== undefined) positiveInt('cols', args.cols);
  checkSeed(args.seed);
  checkDevice(args.device);
  if (args.threads !== undefined) positiveInt('threads', args.threads);
  checkExtension('out', args.out, IMAGE_EXTS);
  if (args.process !== undefined) checkExtension('process', args.process, PROCESS_EXTS);
  if (args['process-steps'] !== undefined && args.process === undefined) throw new DiffusionError('--process-steps needs --process FILE');
  if (args.config !== undefined && args.model === undefined) throw new DiffusionError('--config needs --model');
  if (args.precision !== undefined && args.model === undefined) {
    throw new DiffusionError('--precision needs --model (a float16 model file or Stable Diffusion folder)');
  }
}

// ---- generators ----

/** Samples from one model.onnx, recording the chosen steps of the denoising process. */
/** Refuses --n/--batch whose images and activations cannot fit in memory, before sampling. */
function checkSampleMemory(args: SampleArgs, config: ModelConfig, source: string): void {
  const { channels, size } = config.image;
  let recipe: Recipe | undefined;
  try {
    recipe = config.recipe === undefined ? undefined : validateRecipe(config.recipe, '');
  } catch {
    recipe = undefined;
  }
  const batch = Math.min(args.batch ?? args.n, args.n);
  const flag = args.batch !== undefined && args.batch < args.n ? '--batch' : '--n';
  // The results (floats, RGBA, grid) of all n images stay in memory; the network sees `batch` at once.
  const outputs = args.n * channels * size * size * 4 * 4;
  const available = availableMemory() - outputs;
  if (available <= 0) throw new DiffusionError(`--n ${args.n}: ${(outputs / 2 ** 30).toFixed(1)} GiB of images, more than the memory available`);
  if (recipe) checkRecipeBudget(recipe, `${source}: the recipe in its metadata`, { batch, copies: 4, activationFactor: 2, available, batchFlag: flag });
  else if (batch * channels * size * size * 4 * 64 > available) throw new DiffusionError(`${flag} ${batch}: too many images at once for the memory available; pass a smaller --batch`);
}

export async function sampleFromModel(args: SampleArgs, loaded?: SamplerModel & { dispose(): Promise<void> }): Promise<SampleOutcome> {
  if (loaded === undefined && args.model === undefined) throw new DiffusionError('give --model, --pipeline or --ensemble');
  const model = loaded ?? await loadModel(args.model!, {
    config: args.config, lora: args.lora, device: args.device as Device, deviceId: args['device-id'], threads: args.threads,
    precision: args.precision as Precision | undefined,
  });
  try {
    const config = model.config;
    checkSampleMemory(args, config, loaded ? 'the model' : args.model!);
    const opts = await samplerOptions(args, config);
    const total = plannedSteps(config, opts.sampler, opts.steps);
    const record = args.process !== undefined ? processSteps(args, total) : [];
    const frames = record.map((step) => ({ step, images: new Array<RgbaImage>(args.n) }));
    const column = new Map(record.map((s, i) => [s, i]));
    const sampler = createSampler(model, samplerConfig(opts));
    const batches = Math.ceil(args.n / Math.min(args.batch ?? args.n, args.n));
    const progress = startProgress(total * batches);
    const { c, size } = { c: config.image.channels, size: config.image.size };
    const result = await sampler.sample(args.n, {
      onStep: (info) => {
        progress.tick();
        const col = column.get(info.step);
        if (col === undefined) return;
        const m = info.x.length / (c * size * size);
        for (let i = 0; i < m; i++) frames[col].images[info.offset + i] = imageToRgba(info.x, i, c, size, size);
      },
    });
    const { count, seconds } = progress.stop();
    return { images: result.rgba, frames, steps: count, seconds };
  } finally {
    await model.dispose();
  }
}

/** Samples from an experts file: one model whose every call goes to the expert owning the timestep. */
export async function sampleFromEnsemble(args: SampleArgs): Promise<SampleOutcome> {
  const ens = await loadEnsemble(args.ensemble!, { device: args.device as Device, deviceId: args['device-id'], threads: args.threads });
  return sampleFromModel(args, { ...ens.model, dispose: ens.dispose });
}

/** Samples a cascade file's stages in order; each stage's sampler, steps and augLevel come from the file. */
export async function sampleFromCascade(args: SampleArgs): Promise<SampleOutcome> {
  for (const flag of ['sampler', 'steps', 'eta', 'spacing', 'variance', 'aug-level'] as const) {
    if (args[flag] !== undefined) throw new DiffusionError(`--${flag} does not apply to --pipeline: set it per stage in ${args.pipeline}`);
  }
  for (const flag of ['class', 'guidance', 'labels', 'cond', 'input', 'lora', 'process'] as const) {
    if (args[flag] !== undefined) throw new DiffusionError(`--${flag} is not supported with --pipeline`);
  }
  const cascade = await loadCascade(args.pipeline!, { device: args.device as Device, deviceId: args['device-id'], threads: args.threads });
  try {
    const batches = Math.ceil(args.n / Math.min(args.batch ?? args.n, args.n));
    const total = cascade.spec.stages.reduce((sum, st, k) => sum + plannedSteps(cascade.models[k].config, st.sampler ?? 'ddim', st.steps), 0);
    const progress = startProgress(total * batches);
    const result = await cascade.sample(args.n, { seed: args.seed, batch: args.batch, clipX0: args.clip, onStageStep: () => progress.tick() });
    const { count, seconds } = progress.stop();
    return { images: result.rgba, frames: [], steps: count, seconds };
  } finally {
    await cascade.dispose();
  }
}

// ---- writers ----

async function writeOutcome(args: SampleArgs, outcome: SampleOutcome): Promise<string[]> {
  const tile = { scale: args.upscale, border: args.border, cols: args.cols };
  const written: string[] = [];
  const grid = makeGrid(outcome.images, tile);
  await writeImage(args.out, grid);
  written.push(`${args.out} (${grid.width}x${grid.height})`);
  if (args.each !== undefined) {
    fs.mkdirSync(args.each, { recursive: true });
    const digits = Math.max(3, String(outcome.images.length - 1).length);
    for (const [i, img] of outcome.images.entries()) {
      await writeImage(path.join(args.each, `${String(i).padStart(digits, '0')}.png`), makeGrid([img], { ...tile, cols: 1, border: 0 }));
    }
    written.push(`${args.each}/ (${outcome.images.length} images)`);
  }
  if (args.process !== undefined) {
    const cols = outcome.frames.map((f) => f.images);
    if (path.extname(args.process).toLowerCase() === '.png') {
      await writeImage(args.process, makeStrip(cols, tile));
    } else {
      await writeAnimation(args.process, cols.map((imgs) => makeGrid(imgs, tile)), { delayMs: 80, holdLastMs: 1500 });
    }
    written.push(`${args.process} (${cols.length} steps: ${outcome.frames.map((f) => f.step).join(',')})`);
  }
  return written;
}

export const sampleCommand: CommandModule<object, SampleArgs> = {
  command: 'sample',
  describe: 'Sample images from a model.onnx and write a grid (optionally each image and the denoising process)',
  builder: (y) =>
    sdOptions(y)
      .option('model', { type: 'string', describe: 'model.onnx (external data beside it is found from any folder), a checkpoint folder holding one, a diffusers pipeline folder (model_index.json, unet/, scheduler/; with text_encoder/ it takes --prompt), or a shipped model name' })
      .option('pipeline', { type: 'string', describe: `Cascade file: base model then super-resolution stages (${shippedDoc('pipelines.md')})` })
      .option('ensemble', { type: 'string', describe: `Experts file: one model per timestep range (${shippedDoc('pipelines.md')})` })
      .option('config', { type: 'string', describe: 'JSON config for a model without onnx-diffusion metadata (with a diffusers folder: overrides its configs key by key, e.g. {"image": {"size": 64}})' })
      .option('sampler', {
        type: 'string',
        describe: 'ddpm | ddim | dpm++2m | dpm++2m-sde | euler | heun (gaussian; default ddim), toy, cold, or a registered scheduler',
      })
      .option('steps', { type: 'number', describe: 'Denoising steps (default: ddpm T, ddim 50, dpm++2m(-sde) 20, euler 30, heun 15)' })
      .option('eta', { type: 'number', describe: 'DDIM noise in [0, 1] (default 0)' })
      .option('n', { type: 'number', default: 16, describe: 'Number of images' })
      .option('batch', { type: 'number', describe: 'Images per network call (default: all)' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of the initial noise and every step' })
      .option('class', { type: 'string', describe: 'Class id or name for every image, or a list (default: cycle)' })
      .option('guidance', { type: 'number', describe: 'Classifier-free guidance scale (1 = conditional only)' })
      .option('labels', { type: 'string', describe: 'Multi-hot label vector, e.g. 0,1,0,1' })
      .option('cond', { type: 'string', describe: 'Condition image for an image-conditioned model' })
      .option('input', { type: 'string', array: true, describe: 'Conditioning input of any name: NAME=FILE.npy (one image\'s values, or n images\'); several: --input a=A.npy b=B.npy' })
      .option('lora', { type: 'string', describe: 'LoRA adapter file (.safetensors from train --lora) merged into the model before sampling' })
      .option('aug-level', { type: 'number', describe: 'Noise-augmentation timestep of the condition (cascades)' })
      .option('out', { type: 'string', default: 'samples.png', describe: 'Grid of samples (.png, .webp, .jpg)' })
      .option('each', { type: 'string', describe: 'Also write each image as DIR/000.png, ...' })
      .option('process', { type: 'string', describe: 'Denoising process: .png strip, or .gif/.webp animation' })
      .option('process-steps', { type: 'string', describe: 'Step indices to record, e.g. 0,10,20,49 (default: 8 for a strip, up to 40 frames)' })
      .option('upscale', { type: 'number', default: 1, describe: 'Integer nearest-neighbour upscale of every image' })
      .option('border', { type: 'number', default: 2, describe: 'Border between tiles, in output pixels' })
      .option('cols', { type: 'number', describe: 'Grid columns (default: ceil(sqrt(n)))' })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu | cuda' })
      .option('device-id', { type: 'number', default: 0, describe: 'CUDA device ordinal' })
      .option('threads', { type: 'number', describe: 'Intra-op threads (default: all cores)' })
      .option('spacing', { type: 'string', describe: 'Timestep spacing: leading | trailing | linspace' })
      .option('variance', { type: 'string', describe: 'DDPM variance: beta | posterior (default)' })
      .option('clip', { type: 'boolean', describe: 'Clamp predicted x0 to [-1, 1] (--no-clip to disable; default: on, or the scheduler config\'s clip_sample)' }),
  handler: async (args) => {
    checkArgs(args);
    if ([args.model, args.pipeline, args.ensemble].filter((v) => v !== undefined).length > 1) throw new DiffusionError('give only one of --model, --pipeline and --ensemble');
    const outcome = checkPromptModel(args) ? await sampleFromStableDiffusion(args)
      : args.pipeline !== undefined ? await sampleFromCascade(args) : args.ensemble !== undefined ? await sampleFromEnsemble(args) : await sampleFromModel(args);
    const written = await writeOutcome(args, outcome);
    const rate = outcome.steps / Math.max(outcome.seconds, 1e-9);
    process.stdout.write(`sampled ${outcome.images.length} images in ${formatSeconds(outcome.seconds)} (${rate.toFixed(1)} steps/s)\n`);
    for (const w of written) process.stdout.write(`wrote ${w}\n`);
  },
};
