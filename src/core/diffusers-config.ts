/**
 * diffusers' JSON configs mapped onto this project's: `scheduler/scheduler_config.json` onto the
 * `diffusion` section, `unet/config.json` onto the image shape. Pure (the folder is read at the
 * edges, runtime/). Unknown values are refused by key; keys this project has no use for
 * (`_class_name`, `thresholding` off, ...) are ignored, as diffusers' `from_config` ignores keys a
 * scheduler does not take.
 */
import { Checker, describe, isObj } from './schema';
import { DiffusionConfig, Prediction, ScheduleKind, TIMESTEP_SPACINGS } from './diffusion-config';

/** diffusers `beta_schedule` -> ours (squaredcos_cap_v2 is Nichol & Dhariwal's cosine, max beta 0.999). */
const BETA_SCHEDULES: Record<string, ScheduleKind> = {
  linear: 'linear',
  scaled_linear: 'scaled-linear',
  squaredcos_cap_v2: 'cosine',
};

/** diffusers `prediction_type` -> ours. */
const PREDICTION_TYPES: Record<string, Prediction> = { epsilon: 'eps', v_prediction: 'v', sample: 'x0' };

/** diffusers' defaults where a scheduler_config.json omits a key (DDPMScheduler / DDIMScheduler). */
const DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  prediction_type: 'epsilon',
  steps_offset: 0,
  timestep_spacing: 'leading',
  clip_sample: true,
  clip_sample_range: 1.0,
  set_alpha_to_one: true,
} as const;

/** The scheduler class named in the file, e.g. `DDIMScheduler` (undefined when absent). */
export function schedulerClassName(json: unknown): string | undefined {
  return isObj(json) && typeof json._class_name === 'string' ? json._class_name : undefined;
}

/**
 * A diffusers scheduler_config.json as this project's diffusion config. Every key that changes the
 * math is mapped or refused by name: `trained_betas`, `thresholding`, `rescale_betas_zero_snr` and
 * `timestep_spacing` values this project does not implement are errors, not silently dropped.
 */
export function diffusionConfigFromScheduler(json: unknown, source: string): DiffusionConfig {
  const c = new Checker(source, '');
  const o = c.object(json, '', undefined, 'a scheduler config object');
  const get = <K extends keyof typeof DEFAULTS>(k: K): unknown => (o[k] === undefined || o[k] === null ? DEFAULTS[k] : o[k]);
  const schedule = BETA_SCHEDULES[String(get('beta_schedule'))];
  if (schedule === undefined) c.fail('beta_schedule', `${describe(o.beta_schedule)} is not supported (expected one of ${Object.keys(BETA_SCHEDULES).join('|')})`);
  const prediction = PREDICTION_TYPES[String(get('prediction_type'))];
  if (prediction === undefined) c.fail('prediction_type', `${describe(o.prediction_type)} is not supported (expected one of ${Object.keys(PREDICTION_TYPES).join('|')})`);
  if (o.trained_betas !== undefined && o.trained_betas !== null) c.fail('trained_betas', 'explicit beta lists are not supported (use beta_schedule)');
  if (o.thresholding === true) c.fail('thresholding', 'dynamic thresholding is not supported (set it to false)');
  if (o.rescale_betas_zero_snr === true) c.fail('rescale_betas_zero_snr', 'zero-terminal-SNR rescaling is not supported (set it to false)');
  const spacing = get('timestep_spacing');
  if (typeof spacing !== 'string' || !(TIMESTEP_SPACINGS as readonly string[]).includes(spacing)) {
    c.fail('timestep_spacing', `${describe(spacing)} is not supported (expected one of ${TIMESTEP_SPACINGS.join('|')})`);
  }
  const timesteps = c.int(get('num_train_timesteps'), 'num_train_timesteps', 2);
  const betaStart = c.finite(get('beta_start'), 'beta_start');
  const betaEnd = c.finite(get('beta_end'), 'beta_end');
  if (!(betaStart > 0 && betaStart < 1)) c.fail('beta_start', `expected a number in (0, 1), got ${betaStart}`);
  if (!(betaEnd > 0 && betaEnd < 1)) c.fail('beta_end', `expected a number in (0, 1), got ${betaEnd}`);
  if (betaStart > betaEnd) c.fail('beta_start', `expected beta_start <= beta_end (${betaEnd}), got ${betaStart}`);
  const clip = c.bool(get('clip_sample'), 'clip_sample');
  const range = c.finite(get('clip_sample_range'), 'clip_sample_range');
  if (clip && !(range > 0)) c.fail('clip_sample_range', `expected a number > 0, got ${range}`);
  return {
    timesteps,
    schedule,
    betaStart,
    betaEnd,
    prediction,
    stepsOffset: c.nonNegInt(get('steps_offset'), 'steps_offset'),
    timestepSpacing: spacing as DiffusionConfig['timestepSpacing'],
    clipSample: clip ? range : 0,
    setAlphaToOne: c.bool(get('set_alpha_to_one'), 'set_alpha_to_one'),
  };
}

/** What a diffusers `unet/config.json` says about the latent shape and conditioning. */
export interface UnetFolderConfig {
  /** Latent height = width (`sample_size`). */
  sampleSize?: number;
  inChannels?: number;
  outChannels?: number;
  /** Width of `encoder_hidden_states` tokens (`cross_attention_dim`). */
  crossAttentionDim?: number;
  /** `num_class_embeds`, for class-conditional UNets. */
  numClassEmbeds?: number;
}

/** Reads the keys of a diffusers UNet config this project uses; the rest is ignored. */
export function unetFolderConfig(json: unknown, source: string): UnetFolderConfig {
  const c = new Checker(source, '');
  const o = c.object(json, '', undefined, 'a UNet config object');
  const out: UnetFolderConfig = {};
  const size = o.sample_size;
  if (size !== undefined && size !== null) {
    // diffusers allows [h, w]; this project's images are square.
    if (Array.isArray(size)) {
      if (size.length !== 2 || size[0] !== size[1]) c.fail('sample_size', `expected a square size, got [${size.join(', ')}]`);
      out.sampleSize = c.posInt(size[0], 'sample_size[0]');
    } else out.sampleSize = c.posInt(size, 'sample_size');
  }
  if (o.in_channels !== undefined) out.inChannels = c.posInt(o.in_channels, 'in_channels');
  if (o.out_channels !== undefined) out.outChannels = c.posInt(o.out_channels, 'out_channels');
  if (o.cross_attention_dim !== undefined && o.cross_attention_dim !== null && !Array.isArray(o.cross_attention_dim)) {
    out.crossAttentionDim = c.posInt(o.cross_attention_dim, 'cross_attention_dim');
  }
  if (o.num_class_embeds !== undefined && o.num_class_embeds !== null) out.numClassEmbeds = c.posInt(o.num_class_embeds, 'num_class_embeds');
  return out;
}
