/**
 * The training defaults and the per-step scalars fed to the step graph, shared by the Node trainer
 * (trainer.ts) and the page's trainer (src/web/trainer.ts): the same options give the same
 * learning rate, EMA decay and clipping at every step in both.
 */
import { OptionError } from '../core/errors';
import type { ModelConfig } from '../core/model-config';
import type { Recipe } from '../core/recipe';
import type { LrDecay } from './lr';
import { emaDecayAt, learningRate } from './lr';

/** The learning-rate schedule knobs of TrainOptions (all optional; defaults below). */
export interface LrScheduleOptions {
  lr?: number;
  warmup?: number;
  lrDecay?: LrDecay;
  emaDecay?: number;
  /** Global gradient-norm clip; 0 or less disables it. */
  gradClip?: number;
}

/**
 * emaDecay is the default with `lrDecay: 'constant'`. With the cosine decay (the default) the EMA
 * is off unless asked for: the final weights are saved. Measured on Fashion-MNIST (README,
 * "Quality per minute of training"): the EMA lags the gains of the cosine's last steps (FD 18.3
 * against 15.4 without it after 2,000 steps; 7.2 against 7.0 after 6,500; 5.9 against 6.2 for the
 * class model after 3,000).
 */
export const TRAIN_DEFAULTS = { steps: 2000, lr: 1e-3, warmup: 100, lrDecay: 'cosine', emaDecay: 0.999, gradClip: 1, weightDecay: 0, seed: 0 } as const;

/** The EMA decay a run gets without `emaDecay`: 0 (no EMA) under the cosine decay, 0.999 at a constant lr. */
export function defaultEmaDecay(lrDecay: LrDecay): number {
  return lrDecay === 'cosine' ? 0 : TRAIN_DEFAULTS.emaDecay;
}

/** A clip norm no gradient reaches: it disables clipping without a second graph. */
export const NO_CLIP = 3e38;

/**
 * @deprecated The old name of LrScheduleOptions (kept for one version).
 */
export type ScheduleOptions = LrScheduleOptions;

/** The learning-rate, EMA and clipping schedule of a run, resolved (not the noise schedule: diffusion/schedules.ts). */
export interface LrSchedule {
  lr: number;
  /** Warmup steps actually used: the option, at most a tenth of the run. */
  warmup: number;
  lrDecay: LrDecay;
  emaDecay: number;
  maxNorm: number;
  totalSteps: number;
}

export function resolveLrSchedule(o: LrScheduleOptions, totalSteps: number): LrSchedule {
  const clip = o.gradClip ?? TRAIN_DEFAULTS.gradClip;
  const lrDecay = o.lrDecay ?? TRAIN_DEFAULTS.lrDecay;
  return {
    lr: o.lr ?? TRAIN_DEFAULTS.lr,
    warmup: Math.min(o.warmup ?? TRAIN_DEFAULTS.warmup, Math.floor(totalSteps / 10)),
    lrDecay,
    emaDecay: o.emaDecay ?? defaultEmaDecay(lrDecay),
    maxNorm: clip > 0 ? clip : NO_CLIP,
    totalSteps,
  };
}

/** The scalars of 0-based step `step`: the 1-based count AdamW's bias correction takes, lr, EMA decay, clip. */
export function stepScalars(step: number, s: LrSchedule): { step: number; lr: number; emaDecay: number; maxNorm: number } {
  return { step: step + 1, lr: learningRate(step, s.lr, s.warmup, s.totalSteps, s.lrDecay), emaDecay: emaDecayAt(step, s.emaDecay), maxNorm: s.maxNorm };
}

/** The training timesteps [lo, hi] (inclusive): all of them, or `tRange` (an expert of an ensemble). */
export function timestepRange(config: ModelConfig, tRange?: [number, number]): [number, number] {
  const T = config.diffusion.timesteps;
  const cold = config.kind === 'cold-blur';
  const [lo, hi] = tRange ?? [cold ? 1 : 0, cold ? T : T - 1];
  if (!(lo >= 0 && hi >= lo && hi <= T)) throw new OptionError('tRange', `${lo}:${hi}: expected 0 <= lo <= hi <= ${T - 1}`);
  return [lo, hi];
}

/** Conditioning dropout: the option, else the recipe's nullClassDropout, else none. */
export function condDropoutOf(condDropout: number | undefined, recipe: Recipe | undefined): number {
  return condDropout ?? ((recipe?.conditioning as { nullClassDropout?: number } | undefined)?.nullClassDropout ?? 0);
}

/** The knobs of a diffusion run that both trainers resolve the same way. */
export interface RunHyperOptions extends LrScheduleOptions {
  seed?: number;
  tRange?: [number, number];
  condDropout?: number;
}

/** A run's hyper-parameters, resolved once from its options (defaults filled, ranges checked); read-only. */
export interface RunHyper {
  readonly seed: number;
  readonly schedule: Readonly<LrSchedule>;
  readonly tRange: readonly [number, number];
  readonly condDropout: number;
}

export function resolveHyper(o: RunHyperOptions, config: ModelConfig, recipe: Recipe | undefined, totalSteps: number): RunHyper {
  return Object.freeze({
    seed: o.seed ?? TRAIN_DEFAULTS.seed,
    schedule: Object.freeze(resolveLrSchedule(o, totalSteps)),
    tRange: Object.freeze(timestepRange(config, o.tRange)),
    condDropout: condDropoutOf(o.condDropout, recipe),
  });
}
