/**
 * Node edge of the cascades and expert ensembles: reads cascade and experts files, loads each model session once
 * (paths relative to the file), and checks the models against each other before any sampling.
 */
import * as path from 'node:path';
import { loadModel, LoadModelOptions, readConfigFile } from './load';
import { DiffusionModel } from './model';
import { SampleResult, SamplerModel } from '../diffusion/sampler';
import { CascadeSpec, ExpertsSpec, parseCascade, parseExperts } from '../core/cascade-files';
import { CascadeSampleOptions, checkCascadeModels, sampleCascade } from '../diffusion/cascades/cascade';
import { checkExpertModels, ensembleModel } from '../diffusion/cascades/experts';
import { schedulerNames } from '../diffusion/schedulers';

async function loadAll(file: string, paths: string[], opts: LoadModelOptions): Promise<DiffusionModel[]> {
  const dir = path.dirname(file);
  const models: DiffusionModel[] = [];
  try {
    for (const p of paths) models.push(await loadModel(path.resolve(dir, p), opts));
  } catch (e) {
    await disposeAll(models);
    throw e;
  }
  return models;
}

async function disposeAll(models: DiffusionModel[]): Promise<void> {
  await Promise.all(models.map((m) => m.dispose()));
}

async function disposeOnError<T>(models: DiffusionModel[], check: () => T): Promise<T> {
  try {
    return check();
  } catch (e) {
    await disposeAll(models);
    throw e;
  }
}

export interface LoadedCascade {
  file: string;
  spec: CascadeSpec;
  models: DiffusionModel[];
  sample(n: number, opts?: CascadeSampleOptions): Promise<SampleResult>;
  /** Frees every stage's session. */
  dispose(): Promise<void>;
  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void>;
}

/** Reads and checks a cascade file and loads its models once. */
export async function loadCascade(file: string, opts: LoadModelOptions = {}): Promise<LoadedCascade> {
  const spec = parseCascade(readConfigFile(file), file, schedulerNames('gaussian'));
  const models = await loadAll(file, spec.stages.map((s) => s.model), opts);
  const dispose = () => disposeAll(models);
  await disposeOnError(models, () => checkCascadeModels(spec, models.map((m) => m.config), file));
  return {
    file, spec, models,
    sample: (n, o) => sampleCascade(spec, models, n, o),
    dispose, release: dispose,
  };
}

export interface LoadedEnsemble {
  file: string;
  spec: ExpertsSpec;
  models: DiffusionModel[];
  /** The dispatching model, ready for createSampler. */
  model: SamplerModel;
  /** Frees every expert's session. */
  dispose(): Promise<void>;
  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void>;
}

/** Reads and checks an experts file and loads every expert once. */
export async function loadEnsemble(file: string, opts: LoadModelOptions = {}): Promise<LoadedEnsemble> {
  const spec = parseExperts(readConfigFile(file), file);
  const models = await loadAll(file, spec.experts.map((e) => e.model), opts);
  const dispose = () => disposeAll(models);
  await disposeOnError(models, () => checkExpertModels(spec, models.map((m) => m.config), file));
  return {
    file, spec, models,
    model: ensembleModel(models, spec.experts.map((e) => e.tRange)),
    dispose, release: dispose,
  };
}
