/**
 * Node's side of a training run: the TrainingRun (training-run.ts) plus what Node adds around it,
 * the run folder (checkpoints written atomically under its lock, LoRA adapter files), evaluations
 * and sample grids. train() (trainer.ts) drives it step by step.
 */
import { Rng } from '../core/rng';
import type { Dataset } from '../data/dataset';
import { Batch, BatchLoader } from '../data/loader';
import type { LoraSpec, ModelConfig } from '../core/model-config';
import { DiffusionError } from '../core/errors';
import type { NodeSession } from '../runtime/node';
import { loadState, TrainStateMeta } from './checkpoint';
import { EvalPoint, TrainingEvaluator } from './eval-log';
import { resolveHyper } from './hyper';
import { writeAdapterFile } from './lora';
import type { TrainOptions } from './options';
import { writeCheckpoint, writeSamples } from './outputs';
import { namingSource } from './prepare';
import { tryPreview } from './preview';
import type { CaptionedRun } from './captioned';
import type { RunDir } from './run-dir';
import { modelWithWeights, type Setup } from './setup-from-model';
import type { StepGraph } from './step-graph';
import type { TrainVectors } from './train-graph';
import { diffusionRun, type Feeds, freshVectors, TrainingRun } from './training-run';

export interface NodeRunParts {
  opt: Readonly<TrainOptions>;
  dir: RunDir;
  setup: Setup;
  lora?: LoraSpec;
  dataset: Dataset;
  graph: StepGraph;
  session: NodeSession;
  totalSteps: number;
  source: string;
  /** captions: data: the cached encodings' null tensors, the prompt grid and the pipeline folder written beside the run. */
  captioned?: CaptionedRun;
}

export class NodeRun {
  readonly run: TrainingRun<Batch>;
  readonly loader: BatchLoader;
  private readonly rng: Rng;
  private readonly meta: TrainStateMeta;
  private readonly evaluator?: TrainingEvaluator;
  private savedStep: number;

  constructor(private readonly p: NodeRunParts) {
    const { opt, setup, graph } = p;
    const hyper = resolveHyper(opt, setup.config, setup.recipe, p.totalSteps);
    this.rng = new Rng(hyper.seed + 1);
    this.loader = new BatchLoader(p.dataset, { batchSize: opt.batch ?? 64, seed: hyper.seed, flip: opt.flip });
    if (opt.overfitBatch) this.loader.overfitBatch(opt.overfitBatch);
    const start = this.startState();
    this.meta = start.meta;
    this.savedStep = this.meta.step;
    const run = (feeds: Feeds) => p.session.run(feeds).catch((e: unknown) => {
      throw namingSource(e, p.source, false);
    });
    this.run = diffusionRun({ graph, config: setup.config, rng: this.rng, hyper, nulls: p.captioned?.nullTensors }, {
      run, vec: start.vec, step: this.meta.step, losses: this.meta.losses, kept: () => `stopped, ${this.kept()}`,
    });
    this.evaluator = opt.evalEvery ? new TrainingEvaluator(opt.evalN ?? 500, opt.threads) : undefined;
  }

  get totalSteps(): number {
    return this.p.totalSteps;
  }

  get config(): ModelConfig {
    return this.p.setup.config;
  }

  /** Fresh vectors, or the checkpoint's on resume (with the Rng and batch cursor where they stopped). */
  private startState(): { vec: TrainVectors; meta: TrainStateMeta } {
    const { opt, graph, totalSteps } = this.p;
    if (opt.resume === undefined) {
      const vec = freshVectors(this.p.setup.trainModel, graph);
      return { vec, meta: { step: 0, totalSteps, rng: this.rng.getState(), loader: this.loader.getState(), total: vec.params.length, losses: [] } };
    }
    const st = loadState(opt.resume);
    if (st.meta.total !== graph.layout.total) {
      throw new DiffusionError(`${opt.resume}: the saved state has ${st.meta.total} parameters, the model ${graph.layout.total}`);
    }
    this.rng.setState(st.meta.rng);
    this.loader.setState(st.meta.loader);
    return { vec: st.vec, meta: { ...st.meta, totalSteps } };
  }

  private kept(): string {
    const out = this.p.dir.path;
    return this.p.dir.hasCheckpoint
      ? `the last good checkpoint in ${out} is kept (step ${this.savedStep})`
      : `no checkpoint was written yet, so ${out} is not created`;
  }

  /** Writes the checkpoint (state/, model.onnx, train.json, adapter) and commits the run folder. */
  async save(): Promise<void> {
    const { dir, setup, graph, opt, lora, dataset } = this.p;
    Object.assign(this.meta, { step: this.run.step, rng: this.rng.getState(), loader: this.loader.getState() });
    await writeCheckpoint(dir.path, setup, graph, setup.config, this.run.vec, this.meta, opt, dataset.name);
    if (lora) await writeAdapterFile(dir.path, lora, graph.layout, this.run.vec.ema);
    else this.p.captioned?.writePipeline(dir.path);
    dir.commit();
    this.savedStep = this.run.step;
  }

  /** After a step: evaluation, checkpoint and samples when due (or at the end, or when interrupted). */
  async afterStep(interrupted: boolean, fixedBatch: Batch): Promise<void> {
    const { opt, setup, graph, dir } = this.p;
    const step = this.run.step;
    const atEnd = step === this.p.totalSteps;
    if (this.evaluator && (step % opt.evalEvery! === 0 || atEnd)) {
      const inputs = fixedBatch.inputs && { k: fixedBatch.size, values: fixedBatch.inputs };
      const evaluator = this.evaluator;
      // An evaluation or preview that fails is reported and training goes on (preview.ts).
      await tryPreview('the evaluation', step, async () => {
        const point: EvalPoint = await evaluator.run(modelWithWeights(setup, graph, this.run.vec.ema, this.config), this.config, step, inputs);
        this.meta.evals = [...(this.meta.evals ?? []), point];
        opt.onEval?.(point);
      });
    }
    if (interrupted || atEnd || (opt.saveEvery && step % opt.saveEvery === 0)) await this.save();
    if (opt.sampleEvery && (step % opt.sampleEvery === 0 || atEnd)) {
      const captioned = this.p.captioned;
      await tryPreview('the preview sample', step, () => (captioned
        ? captioned.writeSamples(dir.path, modelWithWeights(setup, graph, this.run.vec.ema, this.config), step)
        : writeSamples(dir.path, setup, graph, this.config, this.run.vec.ema, step, opt.sampleN ?? 16, fixedBatch, opt.threads)));
    }
  }

  async dispose(): Promise<void> {
    await this.p.session.dispose();
    await this.evaluator?.dispose();
  }
}
