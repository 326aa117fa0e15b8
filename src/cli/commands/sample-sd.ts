/**
 * `sample --model DIR --prompt "..."`: the Stable Diffusion branch of the sample command, for a
 * diffusers ONNX folder (text_encoder/, unet/, vae_decoder/, ...). sample.ts adds these flags and
 * calls sampleFromStableDiffusion when --prompt is given.
 */
import * as fs from 'node:fs';
import type { Argv } from 'yargs';
import { DiffusionError } from '../../core/errors';
import { decodeNpy, npyToFloat32 } from '../../data/npy';
import { schedulerNames } from '../../diffusion/schedulers';
import { isStableDiffusionFolder, loadStableDiffusion } from '../../runtime/sd';
import type { Device } from '../../runtime/node';
import type { Precision } from '../../diffusion/sd/load';
import { startProgress } from '../progress';
import type { SampleArgs, SampleOutcome } from './sample';

/** The flags only a text-to-image folder takes. */
export interface SdSampleArgs {
  prompt?: string;
  'negative-prompt'?: string;
  latents?: string;
  init?: string;
  strength?: number;
  height?: number;
  width?: number;
  precision?: string;
}

/** Adds the Stable Diffusion flags to the sample command. */
export function sdOptions<T>(y: Argv<T>): Argv<T & SdSampleArgs> {
  return y
    .option('prompt', {
      type: 'string',
      describe: 'Text prompt, for a diffusers ONNX folder with text_encoder/ as --model (--n images, default 16; '
        + `--sampler ${schedulerNames('diffusers').join(' | ')}, default the folder's scheduler; --steps default 50; --guidance default 7.5)`,
    })
    .option('negative-prompt', { type: 'string', describe: 'Prompt of the unconditional branch of guidance (default "")' })
    .option('latents', { type: 'string', describe: 'Starting latents as FILE.npy, [n, 4, h, w] or one image\'s (with --prompt)' })
    .option('init', { type: 'string', describe: 'Init image for img2img (with --prompt and --strength)' })
    .option('strength', { type: 'number', describe: 'img2img: share of the schedule run from the noised --init image, in (0, 1] (default 0.8)' })
    .option('height', { type: 'number', describe: 'Output height in pixels (with --prompt; default the UNet\'s size, else 512)' })
    .option('width', { type: 'number', describe: 'Output width in pixels (with --prompt; default the UNet\'s size, else 512)' })
    .option('precision', {
      type: 'string', choices: ['auto', 'float32', 'float16'],
      describe: 'float16 models and folders (optimum --fp16): run them as float32 (widened when loaded) or as exported; auto = float16 on cuda, float32 on cpu',
    }) as Argv<T & SdSampleArgs>;
}

/** Flags of the other model kinds, refused with --prompt. */
const NOT_SD = ['pipeline', 'ensemble', 'config', 'class', 'labels', 'cond', 'input', 'aug-level', 'eta', 'spacing', 'variance', 'batch', 'process', 'process-steps'] as const;

/** Throws when --prompt and the model disagree: a prompt for a non-text model, or a text folder without one. */
export function checkPromptModel(args: SampleArgs): boolean {
  const sd = args.model !== undefined && isStableDiffusionFolder(args.model);
  if (args.prompt === undefined) {
    // Without --prompt, a text-to-image folder's UNet samples on its own when given its embeddings (--input).
    if (sd && args.input === undefined) {
      throw new DiffusionError(`--model ${args.model} is a text-to-image pipeline (it has text_encoder/): pass --prompt "..." (or --input encoder_hidden_states=FILE.npy to run its UNet alone)`);
    }
    for (const flag of ['negative-prompt', 'latents', 'init', 'strength', 'height', 'width'] as const) {
      if (args[flag] !== undefined) throw new DiffusionError(`--${flag} needs --prompt and a Stable Diffusion folder as --model`);
    }
    return false;
  }
  if (args.model === undefined) throw new DiffusionError('--prompt needs --model DIR, a diffusers ONNX folder with text_encoder/');
  if (!sd) throw new DiffusionError(`--prompt needs a diffusers ONNX folder with text_encoder/ as --model; ${args.model} is not one`);
  for (const flag of NOT_SD) if (args[flag] !== undefined) throw new DiffusionError(`--${flag} does not apply to a Stable Diffusion folder (--prompt)`);
  if (args.strength !== undefined && args.init === undefined) throw new DiffusionError('--strength needs --init IMAGE');
  if (args.init !== undefined && !fs.existsSync(args.init)) throw new DiffusionError(`--init ${args.init}: no such file`);
  if (args.latents !== undefined && !fs.existsSync(args.latents)) throw new DiffusionError(`--latents ${args.latents}: no such file`);
  return true;
}

/** Samples n images from a prompt; option errors name the flag (--guidance, not `guidance`). */
export async function sampleFromStableDiffusion(args: SampleArgs): Promise<SampleOutcome> {
  // --lora: an adapter of `train --init DIR --data captions:... --lora R`, merged into the UNet.
  const gen = await loadStableDiffusion(args.model!, { device: args.device as Device, deviceId: args['device-id'], threads: args.threads, lora: args.lora,
    precision: args.precision as Precision | undefined,
  });
  try {
    const latents = args.latents !== undefined ? npyToFloat32(decodeNpy(fs.readFileSync(args.latents), args.latents)) : undefined;
    let progress: ReturnType<typeof startProgress> | undefined;
    const result = await gen({
      prompt: args.prompt!, negativePrompt: args['negative-prompt'], n: args.n, guidance: args.guidance, steps: args.steps,
      sampler: args.sampler, seed: args.seed, latents, height: args.height, width: args.width, image: args.init, strength: args.strength,
      onStep: ({ total }) => { (progress ??= startProgress(total)).tick(); },
      onWarning: (m) => process.stderr.write(`warning: ${m}\n`),
    }).catch((e: Error) => {
      // the library's option names -> this command's flags
      const flags: Record<string, string> = { negativePrompt: 'negative-prompt', image: 'init', n: 'n' };
      const opt = (e as { option?: string }).option;
      if (opt !== undefined) throw new DiffusionError(`--${flags[opt] ?? opt}${e.message.slice(opt.length)}`);
      throw e;
    });
    const { count, seconds } = progress?.stop() ?? { count: 0, seconds: 0 };
    return { images: result.rgba, frames: [], steps: count, seconds };
  } finally {
    await gen.dispose();
  }
}

