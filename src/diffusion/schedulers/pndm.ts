/**
 * PNDM's linear multistep part, PLMS (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion
 * Models", eq. 12 with the pseudo step of eq. 11), as diffusers 0.27.2's PNDMScheduler with
 * `skip_prk_steps: true`, Stable Diffusion 1.x's default scheduler. n steps evaluate the network
 * n + 1 times: the first timestep twice (a second-order Heun-like start instead of Runge-Kutta).
 * The Runge-Kutta warm-up (`skip_prk_steps: false`) is refused by name. When the key is absent
 * (e.g. swapping from a DDIM config) it is true, as in SD's own config.
 */
import { key, readSchedulerSource } from './common';
import { DiscreteVpScheduler } from './ddim';

export class PndmScheduler extends DiscreteVpScheduler {
  readonly name = 'pndm';
  private readonly finalAlphaCumprod: number;
  /** The last four eps estimates (PLMS history), newest last. */
  private ets: Float32Array[] = [];
  private counter = 0;
  private curSample: Float32Array | null = null;

  static fromConfig(json: unknown, source = 'scheduler_config.json'): PndmScheduler {
    return new PndmScheduler(json, source);
  }

  private constructor(json: unknown, source: string) {
    const src = readSchedulerSource(json, source, { timestep_spacing: 'leading', set_alpha_to_one: false, steps_offset: 0 });
    const d = src.diffusion;
    if (!key(src, 'skip_prk_steps', (c, v, k) => c.bool(v, k), true)) {
      src.check.fail('skip_prk_steps', 'false (Runge-Kutta warm-up) is not supported; set it to true (Stable Diffusion\'s PNDM config)');
    }
    if (d.prediction === 'x0') src.check.fail('prediction_type', '"sample" is not supported by PNDM (expected epsilon|v_prediction)');
    super(d);
    this.finalAlphaCumprod = d.setAlphaToOne ? 1 : this.alphasCumprod[0];
  }

  setTimesteps(steps: number): void {
    super.setTimesteps(steps);
    // Ascending diffusers `_timesteps`; PLMS visits [..., t_1, t_1, t_0] reversed: the first twice.
    const asc = this.timesteps.slice().reverse();
    const plms = [...asc.subarray(0, steps - 1), ...asc.subarray(Math.max(0, steps - 2), steps - 1), asc[steps - 1]].reverse();
    this.timesteps = Float64Array.from(plms);
    this.ets = [];
    this.counter = 0;
    this.curSample = null;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): Float32Array {
    const { prevT: first } = this.alphaAndPrevious(t);
    const ratio = t - first;
    let prevT = first;
    if (this.counter !== 1) {
      this.ets = this.ets.slice(-3);
      this.ets.push(modelOutput);
    } else {
      // the repeated first timestep: step again from t + ratio with the averaged eps
      prevT = t;
      t = t + ratio;
    }
    const e = this.ets, n = e.length;
    let eps: Float32Array;
    if (n === 1 && this.counter === 0) {
      eps = modelOutput;
      this.curSample = sample;
    } else if (n === 1 && this.counter === 1) {
      eps = modelOutput.map((m, k) => (m + e[0][k]) / 2);
      sample = this.curSample!;
      this.curSample = null;
    } else if (n === 2) eps = e[1].map((m, k) => (3 * m - e[0][k]) / 2);
    // Adams-Bashforth coefficients of PLMS, Liu et al. eq. 12
    else if (n === 3) eps = e[2].map((m, k) => (23 * m - 16 * e[1][k] + 5 * e[0][k]) / 12);
    else eps = e[3].map((m, k) => (55 * m - 59 * e[2][k] + 37 * e[1][k] - 9 * e[0][k]) / 24);
    const prev = this.prevSample(sample, t, prevT, eps);
    this.counter++;
    return prev;
  }

  /** Liu et al. eq. 11, the transfer part phi: x_{t-d} from x_t and eps. */
  private prevSample(x: Float32Array, t: number, prevT: number, m: Float32Array): Float32Array {
    const a = this.alphasCumprod[t];
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const b = 1 - a, bPrev = 1 - aPrev;
    const cx = Math.sqrt(aPrev / a);
    const denom = a * Math.sqrt(bPrev) + Math.sqrt(a * b * aPrev);
    const out = new Float32Array(x.length);
    for (let k = 0; k < out.length; k++) {
      const eps = this.prediction === 'v' ? Math.sqrt(a) * m[k] + Math.sqrt(b) * x[k] : m[k];
      out[k] = cx * x[k] - ((aPrev - a) * eps) / denom;
    }
    return out;
  }
}
