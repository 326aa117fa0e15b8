/**
 * Which of the T training timesteps a sampler with fewer steps visits, with diffusers'
 * `timestep_spacing` definitions (Lin et al. 2024, "Common diffusion noise schedules and sample
 * steps are flawed", table 2). Returned in sampling order (descending).
 */
import { DiffusionError, OptionError } from '../../core/errors';
import { TimestepSpacing } from './types';

/** numpy.round: halves go to the nearest even integer. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `offset` (diffusers `steps_offset`) shifts 'leading' timesteps only, as diffusers' DDIM/DDPM `set_timesteps` do. */
export function makeTimesteps(T: number, steps: number, spacing: TimestepSpacing = 'leading', offset = 0): Int32Array {
  if (!Number.isInteger(steps) || steps < 1) throw new OptionError('steps', `must be a positive integer, got ${steps}`);
  if (steps > T) throw new OptionError('steps', `(${steps}) must not exceed the model's timesteps (${T})`);
  const out = new Int32Array(steps);
  switch (spacing) {
    case 'leading': {
      // arange(0, steps) * (T // steps) + steps_offset, reversed: 900, 800, ..., 0 for T = 1000, steps = 10
      const ratio = Math.floor(T / steps);
      for (let i = 0; i < steps; i++) out[i] = (steps - 1 - i) * ratio + offset;
      if (out[0] > T - 1) throw new OptionError('steps', `${steps} leading steps with steps_offset ${offset} reach timestep ${out[0]}, past the model's ${T - 1}`);
      return out;
    }
    case 'trailing': {
      // round(arange(T, 0, -T / steps)) - 1: 999, 899, ..., 99
      const ratio = T / steps;
      for (let i = 0; i < steps; i++) out[i] = roundHalfEven(T - i * ratio) - 1;
      return out;
    }
    case 'linspace': {
      // round(linspace(0, T - 1, steps)), reversed: 999, 888, ..., 0
      // (numpy.linspace(0, T - 1, 1) is [0]; its last point is exactly T - 1 otherwise)
      if (steps === 1) return out;
      const step = (T - 1) / (steps - 1);
      for (let i = 0; i < steps; i++) out[steps - 1 - i] = i === steps - 1 ? T - 1 : roundHalfEven(i * step);
      return out;
    }
    default: {
      const never: never = spacing;
      throw new DiffusionError(`unknown timestep spacing ${String(never)} (expected leading|trailing|linspace)`);
    }
  }
}
