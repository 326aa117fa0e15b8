/** Learning-rate schedules evaluated on the host; the step graph takes lr as an input. */
export type LrDecay = 'cosine' | 'constant';

/**
 * Linear warmup from 0 over `warmup` steps, then constant or cosine decay to 0 at `total`
 * (Loshchilov & Hutter 2017, SGDR without restarts). `step` is 0-based.
 */
export function learningRate(step: number, base: number, warmup: number, total: number, decay: LrDecay): number {
  if (warmup > 0 && step < warmup) return (base * (step + 1)) / warmup;
  if (decay === 'constant') return base;
  const span = Math.max(1, total - warmup);
  const progress = Math.min(1, (step - warmup) / span);
  return 0.5 * base * (1 + Math.cos(Math.PI * progress));
}

/**
 * EMA decay with the usual warmup, min(decay, (1 + k) / (10 + k)), so the EMA of a short run is
 * not dominated by the random initialisation.
 */
export function emaDecayAt(step: number, decay: number): number {
  return Math.min(decay, (1 + step) / (10 + step));
}
