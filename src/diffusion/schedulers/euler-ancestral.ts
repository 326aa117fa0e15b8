/**
 * Euler ancestral (k-diffusion's sample_euler_ancestral) as diffusers 0.27.2's
 * EulerAncestralDiscreteScheduler (scheduling_euler_ancestral_discrete.py): an Euler step down to
 * sigma_down, then fresh noise of standard deviation sigma_up, where sigma_down^2 + sigma_up^2 =
 * sigma_next^2 (Karras et al. 2022's ancestral split, "sigma_up" as k-diffusion's get_ancestral_step).
 */
import { noiseFrom } from './ddim';
import { SigmaScheduler } from './euler';
import type { NoiseSource } from './types';

export class EulerAncestralScheduler extends SigmaScheduler {
  readonly name = 'euler-ancestral';

  static fromConfig(json: unknown, source = 'scheduler_config.json'): EulerAncestralScheduler {
    return new EulerAncestralScheduler(json, source);
  }

  private constructor(json: unknown, source: string) {
    super(json, source);
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    const i = this.index(t);
    const from = this.sigmas[i], to = this.sigmas[i + 1];
    // sigma_up = sqrt(to^2 (from^2 - to^2) / from^2); sigma_down = sqrt(to^2 - sigma_up^2)
    const up = Math.sqrt((to * to * (from * from - to * to)) / (from * from));
    const down = Math.sqrt(to * to - up * up);
    const z = noiseFrom(noise, sample.length);
    const out = new Float32Array(sample.length);
    for (let k = 0; k < out.length; k++) {
      const x = sample[k];
      const d = (x - this.predictX0(modelOutput[k], x, from)) / from;
      out[k] = x + d * (down - from) + z[k] * up;
    }
    this.stepIndex = i + 1;
    return out;
  }
}
