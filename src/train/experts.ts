/**
 * Trains an ensemble of experts (Node): N models on equal, contiguous timestep ranges, one after
 * the other, each fresh from the recipe or fine-tuned from a shared model, into OUT/expert-k/,
 * then writes OUT/experts.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DiffusionError } from '../core/errors';
import { setupModel, train, TrainOptions, TrainResult } from './trainer';
import { ExpertsSpec, serializeExperts } from '../core/cascade-files';
import { equalRanges, timestepDomain } from '../diffusion/cascades/experts';

export interface TrainExpertsOptions extends Omit<TrainOptions, 'tRange' | 'resume' | 'out' | 'onStep'> {
  experts: number;
  out: string;
  /** Called after every step of every expert. */
  onStep?: (expert: number, report: Parameters<NonNullable<TrainOptions['onStep']>>[0]) => void;
}

export interface TrainExpertsResult {
  file: string;
  spec: ExpertsSpec;
  results: TrainResult[];
}

export async function trainExperts(o: TrainExpertsOptions): Promise<TrainExpertsResult> {
  if (o.recipe !== undefined && o.init !== undefined) throw new DiffusionError('give --recipe (fresh experts) or --from (fine-tuned experts), not both');
  const { config } = setupModel({ recipe: o.recipe, init: o.init, config: o.config });
  const ranges = equalRanges(timestepDomain(config), o.experts);
  mkdirSync(o.out, { recursive: true });
  const { experts: _n, onStep, ...base } = o;
  const results: TrainResult[] = [];
  const spec: ExpertsSpec = { experts: [] };
  for (const [k, tRange] of ranges.entries()) {
    const dir = `expert-${k}`;
    results.push(await train({ ...base, tRange, out: join(o.out, dir), onStep: onStep ? (s) => onStep(k, s) : undefined }));
    spec.experts.push({ model: `${dir}/model.onnx`, tRange });
    if (o.signal?.aborted) break;
  }
  const file = join(o.out, 'experts.json');
  if (spec.experts.length === ranges.length) writeFileSync(file, serializeExperts(spec));
  return { file, spec, results };
}
