import type { CommandModule } from 'yargs';
import { SCHEDULE_KINDS, ScheduleKind, validateDiffusionConfig } from '../../core/diffusion-config';
import { readFileLimited } from '../../core/node/read-limits';
import { readModelConfig } from '../../core/model-config';
import { qSample } from '../../diffusion/objectives';
import { Rng } from '../../core/rng';
import { makeSchedule } from '../../diffusion/schedules';
import { DiffusionError } from '../../core/errors';
import { imageToRgba, makeStrip, RgbaImage, writeImage } from '../../image';
import { readMetadata } from '../../onnx/metadata';
import { readConfigFile, resolveModelPath } from '../../runtime/load';
import { configFromJson } from '../../core/model-config';
import { openForDisplay, pickImages } from './dataset';
import { checkExtension, intList, positiveInt } from './sample';

interface ForwardArgs {
  data: string;
  out: string;
  timesteps: string;
  n: number;
  schedule?: string;
  model?: string;
  config?: string;
  size?: number;
  channels?: number;
  seed: number;
  upscale: number;
  border: number;
}

/** The diffusion config and image shape: from --model (metadata or --config), else the named schedule. */
function forwardConfig(args: ForwardArgs) {
  if (args.model !== undefined && args.schedule !== undefined) throw new DiffusionError('give --schedule or --model, not both');
  if (args.model === undefined) {
    if (args.config !== undefined) throw new DiffusionError('--config needs --model');
    const schedule = args.schedule ?? 'linear';
    if (!(SCHEDULE_KINDS as readonly string[]).includes(schedule)) {
      throw new DiffusionError(`--schedule must be one of ${SCHEDULE_KINDS.join('|')}, got "${schedule}"`);
    }
    return { diffusion: validateDiffusionConfig({ schedule: schedule as ScheduleKind }), image: undefined };
  }
  const file = resolveModelPath(args.model);
  const config = args.config !== undefined
    ? configFromJson(readConfigFile(args.config), args.config)
    : readModelConfig(readMetadata(readFileLimited(file, 'onnx', 'model file'), file), file);
  if (!config) throw new DiffusionError(`${file}: the model carries no onnx-diffusion metadata; pass its config (--config file.json)`);
  if (config.kind !== 'gaussian') throw new DiffusionError(`${file}: forward shows Gaussian noising; this model is '${config.kind}'`);
  return { diffusion: config.diffusion, image: config.image };
}

export const forwardCommand: CommandModule<object, ForwardArgs> = {
  command: 'forward',
  describe: 'Show the forward (noising) process: rows = images, columns = x_t at the listed timesteps',
  builder: (y) =>
    y
      .option('data', { type: 'string', demandOption: true, describe: 'Data set spec (see `dataset`)' })
      .option('out', { type: 'string', demandOption: true, describe: 'Output image (.png, .webp, .jpg)' })
      .option('timesteps', { type: 'string', default: '0,50,100,250,500,999', describe: 'Timesteps t of the columns' })
      .option('n', { type: 'number', default: 8, describe: 'Number of images (rows)' })
      .option('schedule', { type: 'string', describe: `Noise schedule ${SCHEDULE_KINDS.join('|')} (T = 1000; default linear)` })
      .option('model', { type: 'string', describe: 'Use this model\'s schedule and image shape instead' })
      .option('config', { type: 'string', describe: 'JSON config for a model without metadata' })
      .option('size', { type: 'number', describe: 'Image size (default: the model\'s, else the data set\'s)' })
      .option('channels', { type: 'number', describe: '1 or 3 (default: the model\'s, else the data set\'s)' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of the image choice and the noise' })
      .option('upscale', { type: 'number', default: 1, describe: 'Integer nearest-neighbour upscale' })
      .option('border', { type: 'number', default: 2, describe: 'Border between tiles, in output pixels' }),
  handler: async (args) => {
    positiveInt('n', args.n);
    positiveInt('upscale', args.upscale);
    if (!Number.isInteger(args.seed)) throw new DiffusionError(`--seed must be an integer, got ${args.seed}`);
    checkExtension('out', args.out, ['.png', '.webp', '.jpg', '.jpeg']);
    const { diffusion, image } = forwardConfig(args);
    const T = diffusion.timesteps;
    const ts = intList('timesteps', args.timesteps);
    for (const t of ts) if (t < 0 || t >= T) throw new DiffusionError(`--timesteps: ${t} is outside [0, ${T - 1}]`);
    const schedule = makeSchedule(diffusion);
    const ds = await openForDisplay(args.data, args.size ?? image?.size, args.channels ?? image?.channels, args.seed);
    const { indices, images: x0 } = pickImages(ds, args.n, args.seed);
    const n = indices.length;
    const { channels: c, height: h, width: w } = ds;
    // One noise draw per image, shared by all columns: each row shows the same eps growing.
    const eps = new Rng(args.seed).normalArray(x0.length);
    const frames: RgbaImage[][] = ts.map((t) => {
      const xt = qSample(x0, eps, new Array<number>(n).fill(schedule.alphasCumprod[t]));
      return Array.from({ length: n }, (_, i) => imageToRgba(xt, i, c, h, w));
    });
    const strip = makeStrip(frames, { scale: args.upscale, border: args.border });
    await writeImage(args.out, strip);
    process.stdout.write(`wrote ${args.out} (${n} images x ${ts.length} timesteps, ${diffusion.schedule} schedule, ${strip.width}x${strip.height})\n`);
  },
};
