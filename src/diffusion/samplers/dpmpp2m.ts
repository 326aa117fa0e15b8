/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): a second-order multistep
 * solver of the diffusion ODE in the data-prediction form, in log-SNR time
 * lambda_t = log(alpha_t / sigma_t), with alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t).
 * The first step is first order (no history yet); the last step, to sigma = 0 (the clean
 * image), is first order too, as diffusers does (lower_order_final / final_sigmas_type "zero"),
 * and lands exactly on the model's x0 estimate. Deterministic: the Rng draws x_T only.
 */
import { Prediction } from '../../core/diffusion-config';
import { lambdaFromAbar } from '../objectives';
import { Rng } from '../../core/rng';
import { Schedule } from '../schedules';
import { denoiseToX0, initialSample, shapeSize } from './common';
import { makeTimesteps } from './timesteps';
import { Denoiser, DpmSolverOptions, SampleShape } from './types';

export async function dpmpp2mSample(
  denoiser: Denoiser, schedule: Schedule, prediction: Prediction, shape: SampleShape, opts: DpmSolverOptions = {},
): Promise<Float32Array> {
  const size = shapeSize(shape);
  const ts = makeTimesteps(schedule.timesteps, opts.steps ?? 20, opts.spacing ?? 'trailing');
  const rng = new Rng(opts.seed ?? 0);
  let x: Float32Array = initialSample(rng, size, opts.initialNoise);
  let prevD: Float32Array | null = null; // x_theta at the previous timestep
  let prevLambda = 0;
  for (let i = 0; i < ts.length; i++) {
    const s = ts[i];
    const D0 = await denoiseToX0(denoiser, schedule, prediction, x, shape.n, s, opts);
    const next = new Float32Array(size);
    if (i === ts.length - 1) {
      // Final step to sigma = 0, alpha = 1, first order: x = (0 / sigma_s) x_s - 1 (e^{-inf} - 1) D0 = D0
      next.set(D0);
    } else {
      const t = ts[i + 1];
      const abS = schedule.alphasCumprod[s], abT = schedule.alphasCumprod[t];
      const alphaS = Math.sqrt(abS), sigmaS = Math.sqrt(1 - abS);
      const alphaT = Math.sqrt(abT), sigmaT = Math.sqrt(1 - abT);
      const lambdaS = lambdaFromAbar(abS), lambdaT = lambdaFromAbar(abT);
      const h = lambdaT - lambdaS;
      // -alpha_t (e^{-h} - 1), with e^{-h} = (alpha_s / sigma_s) (sigma_t / alpha_t) written out
      // so no exp is needed: alpha_t - alpha_s sigma_t / sigma_s
      const cD = alphaT - (alphaS * sigmaT) / sigmaS;
      const cX = sigmaT / sigmaS;
      if (prevD === null) {
        // Algorithm 2, line 2 (first order): x_t = (sigma_t/sigma_s) x_s - alpha_t (e^{-h} - 1) x_theta(x_s, s)
        for (let k = 0; k < size; k++) next[k] = cX * x[k] + cD * D0[k];
      } else {
        // Algorithm 2, lines 4-6: r = h_{i-1} / h_i; D = (1 + 1/(2r)) x_theta(s) - 1/(2r) x_theta(s_prev)
        const r = (lambdaS - prevLambda) / h;
        const c0 = 1 + 1 / (2 * r), c1 = 1 / (2 * r);
        for (let k = 0; k < size; k++) next[k] = cX * x[k] + cD * (c0 * D0[k] - c1 * prevD[k]);
      }
      prevLambda = lambdaS;
    }
    prevD = D0;
    x = next;
    await opts.onStep?.({ step: i, total: ts.length, t: s, x, x0: D0 });
  }
  return x;
}
