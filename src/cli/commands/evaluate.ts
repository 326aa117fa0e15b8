import * as fs from 'node:fs';
import type { CommandModule } from 'yargs';
import { DiffusionError } from '../../core/errors';
import { evaluate, Evaluation, Scores } from '../../eval/evaluate';
import { loadModel } from '../../runtime/load';
import { loadEnsemble } from '../../runtime/cascades';
import { shippedDoc } from '../../core/node/package-files';
import { checkDevice, plannedSteps, positiveInt, SampleArgs, samplerConfig, samplerOptions } from './sample';

interface EvaluateArgs {
  model?: string;
  images?: string;
  pipeline?: string;
  ensemble?: string;
  config?: string;
  n?: number;
  sampler?: string;
  steps?: number;
  eta?: number;
  guidance?: number;
  class?: string;
  seed: number;
  batch?: number;
  clip: boolean;
  classifier?: string;
  reference?: string;
  'reference-n'?: number;
  floor?: string | boolean;
  k: number;
  json: boolean;
  device: string;
  'device-id': number;
  threads?: number;
}

function checkArgs(a: EvaluateArgs): void {
  if ([a.model, a.images, a.pipeline, a.ensemble].filter((v) => v !== undefined).length !== 1) throw new DiffusionError('give one of --model, --images, --pipeline and --ensemble');
  if (a.n !== undefined && !(Number.isInteger(a.n) && a.n >= 2)) throw new DiffusionError(`--n must be an integer >= 2, got ${a.n}`);
  if (!Number.isInteger(a.k) || a.k < 1) throw new DiffusionError(`--k must be a positive integer, got ${a.k}`);
  if (a.n !== undefined && a.k >= a.n) throw new DiffusionError(`--k ${a.k} needs --n above it, got ${a.n}`);
  if (a['reference-n'] !== undefined) positiveInt('reference-n', a['reference-n']);
  if (a.batch !== undefined) positiveInt('batch', a.batch);
  if (a.threads !== undefined) positiveInt('threads', a.threads);
  if (!Number.isInteger(a.seed)) throw new DiffusionError(`--seed must be an integer, got ${a.seed}`);
  checkDevice(a.device);
  if (a.images !== undefined) {
    if (!fs.existsSync(a.images) || !fs.statSync(a.images).isDirectory()) throw new DiffusionError(`--images ${a.images}: no such folder`);
    for (const flag of ['sampler', 'steps', 'eta', 'guidance', 'class', 'config'] as const) {
      if (a[flag] !== undefined) throw new DiffusionError(`--${flag} applies to --model, not --images`);
    }
  }
  if (a.pipeline !== undefined) {
    for (const flag of ['sampler', 'steps', 'eta', 'guidance', 'class', 'config'] as const) {
      if (a[flag] !== undefined) throw new DiffusionError(`--${flag} does not apply to --pipeline: set it per stage in ${a.pipeline}`);
    }
  }
  if (a.ensemble !== undefined && a.config !== undefined) throw new DiffusionError('--config applies to --model, not --ensemble');
}

const fixed = (v: number | undefined, digits: number): string => (v === undefined ? '-' : v.toFixed(digits));

/** The scores as an aligned text table, the floor row under the scored one. */
export function formatEvaluation(e: Evaluation, k: number): string {
  const head = ['source', 'n', 'FD', 'confidence', 'entropy', 'precision', 'recall', 'accuracy'];
  const row = (s: Scores) => [s.source, String(s.n), fixed(s.fd, 3), fixed(s.confidence, 3), fixed(s.entropy, 3), fixed(s.precision, 3), fixed(s.recall, 3), fixed(s.accuracy, 3)];
  const rows = [head, row(e.scores), ...(e.floor ? [row(e.floor)] : [])];
  const widths = head.map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  const lines = rows.map((r) => r.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  '));
  const out = [`reference: ${e.reference.name} (${e.reference.n} images), precision/recall with k = ${k}`, ...lines];
  if (e.floor) out.push(`FD / floor: ${(e.scores.fd / Math.max(e.floor.fd, 1e-12)).toFixed(2)}x (the floor row is real training images scored the same way)`);
  if (e.note) out.push(e.note);
  return `${out.join('\n')}\n`;
}

export const evaluateCommand: CommandModule<object, EvaluateArgs> = {
  command: 'evaluate',
  describe: 'Score a model\'s samples (or a folder of images) against the Fashion-MNIST test split: FD, confidence, class entropy, precision/recall',
  builder: (y) =>
    y
      .option('model', { type: 'string', describe: 'model.onnx (or checkpoint folder) to sample and score' })
      .option('images', { type: 'string', describe: 'Folder of images (.png, .jpg, .webp) to score instead of a model' })
      .option('pipeline', { type: 'string', describe: `Cascade file to sample and score (base, then super-resolution stages; ${shippedDoc('pipelines.md')})` })
      .option('ensemble', { type: 'string', describe: `Experts file to sample and score (one model per timestep range; ${shippedDoc('pipelines.md')})` })
      .option('config', { type: 'string', describe: 'JSON config for a model without onnx-diffusion metadata' })
      .option('n', { type: 'number', describe: 'Images to sample (default 1000) or to read from --images (default all)' })
      .option('sampler', { type: 'string', describe: 'ddpm | ddim | dpm++2m | dpm++2m-sde | euler | heun (default ddim)' })
      .option('steps', { type: 'number', describe: 'Denoising steps (default: ddpm T, ddim 50, dpm++2m(-sde) 20, euler 30, heun 15)' })
      .option('eta', { type: 'number', describe: 'DDIM noise in [0, 1] (default 0)' })
      .option('guidance', { type: 'number', describe: 'Classifier-free guidance scale (class-conditional models)' })
      .option('class', { type: 'string', describe: 'Class id(s) to request (default: cycle through the classes)' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of the samples and of the reference subsets' })
      .option('batch', { type: 'number', describe: 'Images per network call while sampling (default: all)' })
      .option('clip', { type: 'boolean', default: true, describe: 'Clamp predicted x0 to [-1, 1] (--no-clip to disable)' })
      .option('classifier', { type: 'string', describe: 'Feature network (default models/fashion-mnist-classifier/model.onnx)' })
      .option('reference', { type: 'string', describe: 'Reference data spec (default fashion-mnist: the test split)' })
      .option('reference-n', { type: 'number', describe: 'Reference images for the FD statistics (default all)' })
      .option('floor', { type: 'string', describe: 'Data spec of the real-data floor row (default fashion-mnist:full); --no-floor to skip' })
      .option('k', { type: 'number', default: 3, describe: 'Neighbours of the precision/recall manifolds' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the scores as JSON' })
      .option('device', { type: 'string', default: 'cpu', describe: 'cpu | cuda' })
      .option('device-id', { type: 'number', default: 0, describe: 'CUDA device ordinal' })
      .option('threads', { type: 'number', describe: 'Intra-op threads (default: all cores)' }),
  handler: async (a) => {
    checkArgs(a);
    const common = {
      classifier: a.classifier, reference: a.reference, referenceN: a['reference-n'], k: a.k, seed: a.seed,
      floor: a.floor === false ? (false as const) : typeof a.floor === 'string' ? a.floor : undefined,
      threads: a.threads, device: a.device as 'cpu' | 'cuda',
    };
    let result: Evaluation;
    if (a.images !== undefined) {
      result = await evaluate({ ...common, images: a.images, n: a.n });
    } else if (a.pipeline !== undefined) {
      result = await evaluate({ ...common, pipeline: a.pipeline, n: a.n, sampling: { seed: a.seed, batch: a.batch, clipX0: a.clip } });
    } else {
      const load = { device: common.device, deviceId: a['device-id'], threads: a.threads };
      const ens = a.ensemble !== undefined ? await loadEnsemble(a.ensemble, load) : undefined;
      const model = ens ? { ...ens.model, dispose: ens.dispose } : await loadModel(a.model!, { ...load, config: a.config });
      try {
        const n = a.n ?? 1000;
        const sampleArgs = { ...a, n } as unknown as SampleArgs;
        const sampling = await samplerOptions(sampleArgs, model.config);
        result = await evaluate({ ...common, model, n, sampling: samplerConfig(sampling) });
        const steps = sampling.steps ?? (sampling.sampler === 'heun' ? 'default steps' : plannedSteps(model.config, sampling.sampler, undefined));
        const eta = sampling.eta ? `, eta ${sampling.eta}` : '';
        const how = model.config.kind === 'gaussian' ? `${sampling.sampler} ${steps}${eta}` : model.config.kind;
        result.scores.source = ens ? `${a.ensemble} (${ens.models.length} experts, ${how})` : `${a.model} (${how})`;
      } finally {
        await model.dispose();
      }
    }
    process.stdout.write(a.json ? `${JSON.stringify(result, null, 1)}\n` : formatEvaluation(result, a.k));
  },
};
