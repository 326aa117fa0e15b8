/**
 * Heun on the Karras sigma grid (Karras et al. 2022, Algorithm 1, deterministic, S_churn = 0):
 * an Euler predictor to sigma_{i+1}, then the trapezoidal correction with the slope evaluated
 * there, except on the last step to sigma = 0, which stays Euler (line 6). Second order;
 * n steps cost 2n - 1 network calls, and the loop sees each call as one of its steps (ts lists
 * sigma_0, sigma_1, sigma_1, sigma_2, sigma_2, ..., sigma_{n-1}'s timesteps), so onStep fires
 * 2n - 1 times, after the predictor with the predicted sample. Deterministic: the Rng draws x_T only.
 */
import { Prediction } from '../../core/diffusion-config';
import { Rng } from '../../core/rng';
import { Schedule } from '../schedules';
import { eulerStep } from './euler';
import { fromVp, karrasDenoised, karrasGrid, karrasStart, toVp } from './karras';
import { sampleLoop, shapeSize } from './loop';
import { Denoiser, SampleShape, SamplerOptions } from './types';

export interface HeunStepArgs {
  /** x_i and D(x_i; sigma_i). */
  x: Float32Array;
  x0: Float32Array;
  /** The Euler predictor x_{i+1} (eulerStep) and D(x_{i+1}; sigma_{i+1}). */
  xPred: Float32Array;
  x0Pred: Float32Array;
  sigma: number;
  /** sigma_{i+1} > 0 (the step to 0 is Euler). */
  sigmaNext: number;
}

/** Heun's correction (Karras et al. Algorithm 1, lines 7-8), pure. */
export function heunStep(a: HeunStepArgs): Float32Array {
  const { x, x0, xPred, x0Pred, sigma, sigmaNext } = a;
  const h = sigmaNext - sigma;
  const next = new Float32Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const d = (x[k] - x0[k]) / sigma; // line 4
    const dPrime = (xPred[k] - x0Pred[k]) / sigmaNext; // line 7: d'_i = (x_{i+1} - D(x_{i+1}; sigma_{i+1})) / sigma_{i+1}
    next[k] = x[k] + h * (0.5 * d + 0.5 * dPrime); // line 8: x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (d_i/2 + d'_i/2)
  }
  return next;
}

export async function heunSample(
  denoiser: Denoiser, schedule: Schedule, prediction: Prediction, shape: SampleShape, opts: SamplerOptions = {},
): Promise<Float32Array> {
  const size = shapeSize(shape);
  const rng = new Rng(opts.seed ?? 0);
  const { grid, x: xT } = karrasStart(karrasGrid(schedule, opts.steps ?? 15, 'heun'), schedule, rng, size, opts);
  const { sigmas, ts: gridTs } = grid;
  const n = gridTs.length;
  // Network call j: the predictor of step j/2 (even j) or the corrector of step (j-1)/2 (odd j).
  const ts = Int32Array.from({ length: Math.max(0, 2 * n - 1) }, (_, j) => gridTs[Math.ceil(j / 2)]);
  let held: { x: Float32Array; x0: Float32Array } | null = null;
  return sampleLoop(denoiser, xT, shape.n, {
    ts,
    step(j, xVp, out) {
      const i = j >> 1;
      const sigma = sigmas[i], sigmaNext = sigmas[i + 1];
      const clip = opts.clipX0 !== false;
      if (j % 2 === 0) {
        const x = fromVp(xVp, sigma);
        const x0 = karrasDenoised(out, prediction, xVp, sigma, clip);
        const xPred = eulerStep({ x, x0, sigma, sigmaNext }); // lines 4-5
        held = { x, x0 };
        return { x: toVp(xPred, sigmaNext), x0 };
      }
      const x0Pred = karrasDenoised(out, prediction, xVp, sigmaNext, clip);
      const next = heunStep({ ...held!, xPred: fromVp(xVp, sigmaNext), x0Pred, sigma, sigmaNext });
      return { x: toVp(next, sigmaNext), x0: x0Pred };
    },
  }, opts);
}
