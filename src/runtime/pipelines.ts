/**
 * Node edge of the pipelines: reads cascade and experts files, loads each model session once
 * (paths relative to the file), and checks the models against each other before any sampling.
 */
import * as path from 'node:path';
import { loadModel, LoadModelOptions, readConfigFile } from './load';
import { DiffusionModel } from './model';
import { SampleResult, SamplerModel } from '../diffusion/sampler';
import { CascadeSpec, ExpertsSpec, parseCascade, parseExperts } from '../core/pipeline-files';
import { CascadeSampleOptions, checkCascadeModels, sampleCascade } from '../diffusion/pipelines/cascade';
import { checkExpertModels, ensembleModel } from '../diffusion/pipelines/experts';
import { schedulerNames } from '../diffusion/schedulers';

async function loadAll(file: string, paths: string[], opts: LoadModelOptions): Promise<DiffusionModel[]> {
  const dir = path.dirname(file);
  const models: DiffusionModel[] = [];
  try {
    for (const p of paths) models.push(await loadModel(path.resolve(dir, p), opts));
  } catch (e) {
    await Promise.all(models.map((m) => m.release()));
    throw e;
  }
  return models;
}

async function releaseOnError<T>(models: DiffusionModel[], check: () => T): Promise<T> {
  try {
    return check();
  } catch (e) {
    await Promise.all(models.map((m) => m.release()));
    throw e;
  }
}

export interface LoadedCascade {
  file: string;
  spec: CascadeSpec;
  models: DiffusionModel[];
  sample(n: number, opts?: CascadeSampleOptions): Promise<SampleResult>;
  release(): Promise<void>;
}

/** Reads and checks a cascade file and loads its models once. */
export async function loadCascade(file: string, opts: LoadModelOptions = {}): Promise<LoadedCascade> {
  const spec = parseCascade(readConfigFile(file), file, schedulerNames('gaussian'));
  const models = await loadAll(file, spec.stages.map((s) => s.model), opts);
  await releaseOnError(models, () => checkCascadeModels(spec, models.map((m) => m.config), file));
  return {
    file, spec, models,
    sample: (n, o) => sampleCascade(spec, models, n, o),
    release: async () => { await Promise.all(models.map((m) => m.release())); },
  };
}

export interface LoadedEnsemble {
  file: string;
  spec: ExpertsSpec;
  models: DiffusionModel[];
  /** The dispatching model, ready for createSampler. */
  model: SamplerModel;
  release(): Promise<void>;
}

/** Reads and checks an experts file and loads every expert once. */
export async function loadEnsemble(file: string, opts: LoadModelOptions = {}): Promise<LoadedEnsemble> {
  const spec = parseExperts(readConfigFile(file), file);
  const models = await loadAll(file, spec.experts.map((e) => e.model), opts);
  await releaseOnError(models, () => checkExpertModels(spec, models.map((m) => m.config), file));
  return {
    file, spec, models,
    model: ensembleModel(models, spec.experts.map((e) => e.tRange)),
    release: async () => { await Promise.all(models.map((m) => m.release())); },
  };
}
