/**
 * The smoothed training loss that the terminal bar and the page's curve show: an exponential moving
 * average with Adam's bias correction (Kingma & Ba 2015, Algorithm 1: m_k / (1 - beta^k)), so the
 * first value is the first loss itself instead of a climb from 0 or a long memory of step 1.
 */

/** The display's decay: the EMA's weight is spread over about 1 / (1 - beta) = 50 steps. */
export const LOSS_EMA_BETA = 0.98;

/** A running bias-corrected EMA; `push(loss)` returns the smoothed value after it. */
export class LossEma {
  private m = 0;
  private k = 0;

  constructor(readonly beta = LOSS_EMA_BETA) {
    if (!(beta >= 0 && beta < 1)) throw new RangeError(`LossEma: beta must be in [0, 1), got ${beta}`);
  }

  push(loss: number): number {
    this.k++;
    this.m = this.beta * this.m + (1 - this.beta) * loss; // m_k = beta m_{k-1} + (1 - beta) x_k
    return this.value;
  }

  /** m_k / (1 - beta^k): the weights of x_1..x_k sum to 1. NaN before the first loss. */
  get value(): number {
    return this.k === 0 ? NaN : this.m / (1 - this.beta ** this.k);
  }

  /** How the bar names it: `loss (EMA 50, bias-corrected)`. */
  get label(): string {
    return `EMA ${Math.round(1 / (1 - this.beta))}, bias-corrected`;
  }
}

/** The whole curve smoothed: element i is the bias-corrected EMA of losses[0..i]. */
export function smoothLosses(losses: readonly number[], beta = LOSS_EMA_BETA): number[] {
  const ema = new LossEma(beta);
  return losses.map((l) => ema.push(l));
}

/** Seconds as `42s`, `8m05s`, `1h02m` (the rounding is done once, so never `8m60s`). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
