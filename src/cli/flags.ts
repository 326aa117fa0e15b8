/** Flag checks shared by the commands (one message for one mistake, whichever command it is in). */
import { DiffusionError } from '../core/errors';

/** The largest seed: seeds are taken as uint32 (diffusion/rng.ts), so larger ones would alias. */
export const MAX_SEED = 0xffffffff;

/** --seed: an integer in [0, 2^32 - 1]. */
export function checkSeed(v: number | undefined, name = 'seed'): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < 0 || v > MAX_SEED) throw new DiffusionError(`--${name} must be an integer from 0 to ${MAX_SEED}, got ${v}`);
}

/**
 * yargs reads a value that starts with '-' and a digit ("--t-range -1:5") as short flags. Such a
 * value after a long option is joined to it ("--t-range=-1:5") so that the command checks it.
 */
export function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (/^--[a-z][\w-]*$/i.test(a) && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
