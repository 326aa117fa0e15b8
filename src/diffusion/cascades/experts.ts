/**
 * An ensemble of expert denoisers (eDiff-I, Balaji et al. 2022): each expert is trained on its own
 * range of timesteps, and sampling asks, at every step, the expert that owns that timestep.
 * Pure; the file format is core/cascade-files.ts, file loading runtime/pipelines.ts.
 */
import { DiffusionError, OptionError } from '../../core/errors';
import type { ExpertsSpec } from '../../core/cascade-files';
import { ModelConfig } from '../../core/model-config';
import { SamplerModel } from '../sampler';
import { Denoiser } from '../samplers/types';

type Extras = Parameters<SamplerModel['run']>[2];

/** The timesteps a sampler evaluates: [1, T] for cold blur (levels), [0, T-1] otherwise. */
export function timestepDomain(config: ModelConfig): [number, number] {
  const T = config.diffusion.timesteps;
  return config.kind === 'cold-blur' ? [1, T] : [0, T - 1];
}

/** Splits [lo, hi] into n contiguous ranges of (nearly) equal length, the first ones longer. */
export function equalRanges([lo, hi]: [number, number], n: number): [number, number][] {
  const len = hi - lo + 1;
  if (!Number.isInteger(n) || n < 1 || n > len) throw new OptionError('experts', `must be an integer in [1, ${len}], got ${n}`);
  const out: [number, number][] = [];
  let start = lo;
  for (let k = 0; k < n; k++) {
    const size = Math.floor(len / n) + (k < len % n ? 1 : 0);
    out.push([start, start + size - 1]);
    start += size;
  }
  return out;
}

/** Checks that the ranges cover [lo, hi] exactly: no overlap, no gap, nothing outside. */
export function checkCoverage(spec: ExpertsSpec, [lo, hi]: [number, number], file = 'experts.json'): void {
  const order = spec.experts.map((e, i) => ({ i, r: e.tRange })).sort((a, b) => a.r[0] - b.r[0] || a.r[1] - b.r[1]);
  let next = lo;
  let last: { i: number; r: [number, number] } | undefined;
  for (const e of order) {
    const [a, b] = e.r;
    if (b > hi || a < lo) throw new DiffusionError(`${file}: experts[${e.i}]: range ${a}:${b} is outside the model's timesteps ${lo}:${hi}`);
    if (last && a <= last.r[1]) {
      const [first, second] = e.i > last.i ? [e, last] : [last, e];
      throw new DiffusionError(`${file}: experts[${first.i}]: range ${first.r[0]}:${first.r[1]} overlaps experts[${second.i}] ${second.r[0]}:${second.r[1]}`);
    }
    if (a > next) throw new DiffusionError(`${file}: gap ${next}:${a - 1} owned by no expert`);
    next = b + 1;
    last = e;
  }
  if (next <= hi) throw new DiffusionError(`${file}: gap ${next}:${hi} owned by no expert`);
}

/** Checks that the experts are interchangeable (shape, kind, diffusion, conditioning) and cover every timestep. */
export function checkExpertModels(spec: ExpertsSpec, configs: ModelConfig[], file = 'experts.json'): void {
  if (configs.length !== spec.experts.length) throw new DiffusionError(`${file}: ${spec.experts.length} experts but ${configs.length} models`);
  const ref = configs[0];
  const key = (c: ModelConfig) => JSON.stringify({ kind: c.kind, image: c.image, diffusion: c.diffusion, conditioning: c.conditioning });
  configs.forEach((c, i) => {
    if (i === 0) return;
    const at = `${file}: experts[${i}]`;
    if (c.image.channels !== ref.image.channels || c.image.size !== ref.image.size) {
      throw new DiffusionError(`${at}: makes ${c.image.channels}x${c.image.size}x${c.image.size} images, experts[0] ${ref.image.channels}x${ref.image.size}x${ref.image.size}`);
    }
    if (key(c) !== key(ref)) throw new DiffusionError(`${at}: its diffusion config (kind, schedule, prediction or conditioning) differs from experts[0]'s`);
  });
  checkCoverage(spec, timestepDomain(ref), file);
}

/** The owner of each timestep in [lo, hi] as a lookup table (ranges already checked). */
function ownerTable(ranges: [number, number][]): { lo: number; owner: Int32Array } {
  const lo = Math.min(...ranges.map((r) => r[0]));
  const hi = Math.max(...ranges.map((r) => r[1]));
  const owner = new Int32Array(hi - lo + 1).fill(-1);
  ranges.forEach(([a, b], k) => owner.fill(k, a - lo, b - lo + 1));
  return { lo, owner };
}

function gather(src: Float32Array | Int32Array, per: number, idx: number[]): Float32Array | Int32Array {
  const out = new (src.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(idx.length * per);
  idx.forEach((j, i) => out.set(src.subarray(j * per, (j + 1) * per), i * per));
  return out;
}

type Run = (x: Float32Array, t: Int32Array, extras?: Extras) => Promise<Float32Array>;

/**
 * Sends every sample to the runner owning its timestep. A batch usually shares one t (one call);
 * mixed timesteps are split into one call per expert and reassembled in order.
 */
function dispatch(runs: Run[], ranges: [number, number][]): Run {
  if (runs.length === 0 || runs.length !== ranges.length) throw new DiffusionError(`ensemble: ${runs.length} models for ${ranges.length} ranges`);
  const { lo, owner } = ownerTable(ranges);
  const ownerOf = (t: number) => {
    const k = t - lo >= 0 && t - lo < owner.length ? owner[t - lo] : -1;
    if (k < 0) throw new DiffusionError(`ensemble: no expert owns timestep ${t}`);
    return k;
  };
  return async (x, t, extras = {}) => {
    const n = t.length;
    const groups = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const k = ownerOf(t[i]);
      const g = groups.get(k);
      if (g) g.push(i);
      else groups.set(k, [i]);
    }
    if (groups.size === 1) return runs[groups.keys().next().value!](x, t, extras);
    const per = x.length / n;
    const out = new Float32Array(x.length);
    for (const [k, idx] of groups) {
      const sub: Record<string, Float32Array | Int32Array> = {};
      for (const [name, v] of Object.entries(extras) as [string, Float32Array | Int32Array | undefined][]) {
        if (v !== undefined) sub[name] = gather(v, v.length / n, idx);
      }
      const y = await runs[k](gather(x, per, idx) as Float32Array, gather(t, 1, idx) as Int32Array, sub);
      idx.forEach((j, i) => out.set(y.subarray(i * per, (i + 1) * per), j * per));
    }
    return out;
  };
}

/** A model (for createSampler) whose every call goes to the expert(s) owning the timesteps. */
export function ensembleModel(experts: SamplerModel[], ranges: [number, number][]): SamplerModel {
  const run = dispatch(experts.map((m) => (x: Float32Array, t: Int32Array, e?: Extras) => m.run(x, t, e)), ranges);
  const { tRange: _owned, ...config } = experts[0].config;
  return { config, run };
}

/** The same dispatch for bare denoisers (the samplers' callback type). */
export function expertsDenoiser(denoisers: Denoiser[], ranges: [number, number][]): Denoiser {
  const run = dispatch(denoisers.map((d) => (x: Float32Array, t: Int32Array) => d(x, t)), ranges);
  return (x, t) => run(x, t);
}
