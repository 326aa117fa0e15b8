import { trainDisplay } from '../progress';
import type { Argv, CommandModule } from 'yargs';
import { DiffusionError } from '../../core/errors';
import { shippedDoc } from '../../core/node/package-files';
import { checkSeed } from '../flags';
import type { EvalPoint } from '../../train/eval-log';
import { train, TrainOptions } from '../../train/trainer';

interface Args {
  recipe?: string;
  init?: string;
  config?: string;
  resume?: string;
  overwrite?: boolean;
  data?: string;
  steps?: number;
  epochs?: number;
  batch?: number;
  lr?: number;
  warmup?: number;
  'lr-decay'?: string;
  'weight-decay'?: number;
  'ema-decay'?: number;
  'grad-clip'?: number;
  prediction?: string;
  trainable?: string;
  'min-snr'?: number;
  recompute?: boolean;
  'frozen-by-reference'?: boolean;
  seed?: number;
  device?: string;
  'device-id'?: number;
  threads?: number;
  out?: string;
  'save-every'?: number;
  'sample-every'?: number;
  'sample-n'?: number;
  'eval-every'?: number;
  'eval-n'?: number;
  'log-every'?: number;
  'overfit-batch'?: number;
  flip?: boolean;
  't-range'?: string;
  'cond-dropout'?: number;
  lora?: number;
  'lora-alpha'?: number;
  'lora-targets'?: string;
  resolution?: number;
  'sample-prompts'?: string;
}

function positive(name: string, v: number | undefined, integer = true, allowZero = false): void {
  if (v === undefined) return;
  const ok = Number.isFinite(v) && (allowZero ? v >= 0 : v > 0) && (!integer || Number.isInteger(v));
  if (!ok) throw new DiffusionError(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} ${integer ? 'integer' : 'number'}, got ${v}`);
}

function parseRange(s: string | undefined): [number, number] | undefined {
  if (s === undefined) return undefined;
  const m = /^(-?\d+):(-?\d+)$/.exec(s.trim());
  if (!m) throw new DiffusionError(`--t-range must look like LO:HI (e.g. 0:499), got '${s}'`);
  return [Number(m[1]), Number(m[2])];
}

export function toOptions(a: Args): TrainOptions {
  positive('steps', a.steps);
  positive('epochs', a.epochs, false);
  positive('batch', a.batch);
  positive('lr', a.lr, false);
  positive('warmup', a.warmup, true, true);
  positive('weight-decay', a['weight-decay'], false, true);
  positive('grad-clip', a['grad-clip'], false, true);
  positive('threads', a.threads);
  positive('save-every', a['save-every']);
  positive('sample-every', a['sample-every'], true, true);
  positive('sample-n', a['sample-n']);
  positive('eval-every', a['eval-every'], true, true);
  positive('eval-n', a['eval-n']);
  if (a['eval-n'] !== undefined && a['eval-n'] < 4) throw new DiffusionError(`--eval-n must be at least 4, got ${a['eval-n']}`);
  positive('log-every', a['log-every']);
  positive('overfit-batch', a['overfit-batch']);
  positive('min-snr', a['min-snr'], false);
  checkSeed(a.seed);
  if (a.config !== undefined && a.init === undefined) throw new DiffusionError(`--config ${a.config}: only used with --init (a model without onnx-diffusion metadata); --recipe and --resume models carry their config`);
  if (a.resume !== undefined && a.overwrite) throw new DiffusionError('give --resume or --overwrite, not both');
  if (a['ema-decay'] !== undefined && !(a['ema-decay'] >= 0 && a['ema-decay'] < 1)) throw new DiffusionError(`--ema-decay must be in [0, 1), got ${a['ema-decay']}`);
  if (a['cond-dropout'] !== undefined && !(a['cond-dropout'] >= 0 && a['cond-dropout'] < 1)) throw new DiffusionError(`--cond-dropout must be in [0, 1), got ${a['cond-dropout']}`);
  positive('lora', a.lora);
  positive('resolution', a.resolution);
  const samplePrompts = a['sample-prompts']?.split(',').map((p) => p.trim());
  if (samplePrompts && samplePrompts.some((p) => p === '')) throw new DiffusionError(`--sample-prompts must be comma-separated prompts, none empty, got '${a['sample-prompts']}'`);
  if (a.lora === undefined && (a['lora-alpha'] !== undefined || a['lora-targets'] !== undefined)) throw new DiffusionError('--lora-alpha and --lora-targets need --lora RANK');
  if (a['lora-alpha'] !== undefined && !(Number.isFinite(a['lora-alpha']) && a['lora-alpha'] > 0)) throw new DiffusionError(`--lora-alpha must be a positive number, got ${a['lora-alpha']}`);
  return {
    lora: a.lora !== undefined ? { rank: a.lora, alpha: a['lora-alpha'], targets: a['lora-targets'] } : undefined,
    recipe: a.recipe, init: a.init, config: a.config, resume: a.resume, overwrite: a.overwrite, data: a.data,
    steps: a.steps, epochs: a.epochs, batch: a.batch, lr: a.lr, warmup: a.warmup,
    lrDecay: a['lr-decay'] as TrainOptions['lrDecay'], weightDecay: a['weight-decay'], emaDecay: a['ema-decay'],
    gradClip: a['grad-clip'], prediction: a.prediction as TrainOptions['prediction'], trainable: a.trainable,
    minSnrGamma: a['min-snr'], recompute: a.recompute,
    frozenByReference: a['frozen-by-reference'], seed: a.seed, device: a.device as TrainOptions['device'], deviceId: a['device-id'],
    threads: a.threads, out: a.out, saveEvery: a['save-every'], sampleEvery: a['sample-every'] ?? (a.resume !== undefined ? undefined : 250), sampleN: a['sample-n'],
    evalEvery: a['eval-every'], evalN: a['eval-n'],
    overfitBatch: a['overfit-batch'], flip: a.flip, tRange: parseRange(a['t-range']), condDropout: a['cond-dropout'],
    resolution: a.resolution, samplePrompts,
  };
}

export { etaSeconds } from '../progress';

export const trainCommand: CommandModule<object, Args> = {
  command: 'train',
  describe: 'Train a diffusion model (fresh from a recipe, fine-tuned from a model.onnx, or resumed)',
  builder: (y: Argv<object>) =>
    y
      .option('recipe', { type: 'string', describe: 'Recipe JSON file or shipped recipe name (unet-tiny, ...) for a fresh model (default unet-fashion-mnist)' })
      .option('init', { type: 'string', describe: 'model.onnx to fine-tune (ours, or foreign with --config)' })
      .option('config', { type: 'string', describe: 'JSON config for a model without onnx-diffusion metadata' })
      .option('resume', { type: 'string', describe: 'Checkpoint directory to continue exactly where it stopped' })
      .option('overwrite', { type: 'boolean', describe: 'Replace the run already in --out (otherwise a folder holding a run is refused)' })
      .option('data', { type: 'string', describe: 'fashion-mnist | fashion-mnist:full | idx:PATH | cifar10:DIR | folder:DIR | paired:DIR | manifest:DIR | captions:DIR (pictures with .txt captions or metadata.jsonl; --init a diffusers folder) | synthetic[:N] (default fashion-mnist:full where Debian\'s dataset-fashion-mnist is installed, else the embedded fashion-mnist)', default: undefined })
      .option('steps', { type: 'number', describe: 'Optimisation steps (default 2000)' })
      .option('epochs', { type: 'number', describe: 'Passes over the data (instead of --steps)' })
      .option('batch', { type: 'number', describe: 'Images per step (default 64)' })
      .option('lr', { type: 'number', describe: 'Peak learning rate (default 1e-3)' })
      .option('warmup', { type: 'number', describe: 'Linear warmup steps (default 100, at most 10% of the run)' })
      .option('lr-decay', { choices: ['cosine', 'constant'], describe: 'Decay after warmup (default cosine)' })
      .option('weight-decay', { type: 'number', describe: 'AdamW decoupled weight decay (default 0)' })
      .option('ema-decay', { type: 'number', describe: 'EMA decay of the weights saved in model.onnx (default: 0, the final weights, with the cosine decay; 0.999 with --lr-decay constant)' })
      .option('grad-clip', { type: 'number', describe: 'Global gradient-norm clip, 0 = off (default 1)' })
      .option('prediction', { choices: ['eps', 'x0', 'v'], describe: 'Override the recipe objective (fresh models only)' })
      .option('trainable', { type: 'string', describe: "Comma-separated globs of parameters to train; '!glob' freezes (default all)" })
      .option('min-snr', { type: 'number', describe: 'Min-SNR-gamma loss weighting (e.g. 5)' })
      .option('recompute', { type: 'boolean', describe: 'Recompute block activations in the backward pass (gradient checkpointing): less memory, more compute' })
      .option('frozen-by-reference', {
        type: 'boolean',
        describe: 'With --lora over external data: keep the frozen weights in the base\'s data file, hard-linked into the run '
          + '(default: when over 1 GiB and --sample-every 0)',
      })
      .option('seed', { type: 'number', describe: 'Seed for init, data order and noise (default 0)' })
      .option('device', { choices: ['cpu', 'cuda'], describe: 'Execution provider (default cpu)' })
      .option('device-id', { type: 'number', describe: 'CUDA device id (default 0)' })
      .option('threads', { type: 'number', describe: 'Intra-op threads (default: all cores)' })
      .option('out', { type: 'string', describe: 'Checkpoint directory (default runs/train)' })
      .option('save-every', { type: 'number', describe: 'Checkpoint every N steps (always at the end and on Ctrl-C)' })
      .option('sample-every', { type: 'number', describe: 'Write a sample grid of the saved weights (DDIM 50) to OUT/samples every N steps, 0 = never (default 250)' })
      .option('sample-n', { type: 'number', describe: 'Images per sample grid (default 16)' })
      .option('eval-every', { type: 'number', describe: 'Score the saved weights (FD, confidence, entropy, precision/recall; see evaluate) every N steps into train.json, 0 = never' })
      .option('eval-n', { type: 'number', describe: 'Images sampled (DDIM 50) per --eval-every evaluation (default 500)' })
      .option('log-every', { type: 'number', describe: 'Plain log line every N steps when not on a TTY (default 50)' })
      .option('overfit-batch', { type: 'number', describe: 'Train on one fixed batch of N images (smoke test)' })
      .option('flip', { type: 'boolean', describe: 'Random horizontal flips' })
      .option('t-range', { type: 'string', describe: 'Train only on timesteps LO:HI (an expert of an ensemble)' })
      .option('cond-dropout', { type: 'number', describe: 'Probability of the null class/labels/inputs (default: recipe nullClassDropout)' })
      .option('lora', { type: 'number', describe: `Train rank-R LoRA adapters only, y + (alpha/r) B(A x) (${shippedDoc('lora.md')}); writes OUT/adapter.safetensors (peft/diffusers key names)` })
      .option('lora-alpha', { type: 'number', describe: 'LoRA scale numerator: y + (alpha/rank) B(A x) (default: rank)' })
      .option('resolution', { type: 'number', describe: 'captions: data: pixel size pictures are resized (cover) and centre-cropped to (default unet sample_size times the VAE factor)' })
      .option('sample-prompts', { type: 'string', describe: 'captions: data: comma-separated prompts of the --sample-every grid (default the first 4 captions)' })
      .option('lora-targets', { type: 'string', describe: 'Presets (attn, attn+ff, all-linear, all-linear+conv) and globs over module keys, weight or node names of MatMul/Gemm/Conv weights; !excludes (default: attn, the attention projections; see inspect --lora-targets)' }),
  handler: async (a) => {
    const options = toOptions(a);
    const p = trainDisplay({ logEvery: a['log-every'] ?? 50 });
    const controller = new AbortController();
    const onSigint = () => {
      if (controller.signal.aborted) process.exit(130);
      process.stderr.write('\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit now)\n');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    try {
      const onEval = (e: EvalPoint) => process.stderr.write(`\neval at step ${e.step}: FD ${e.fd.toFixed(3)}${e.floorFd !== undefined ? ` (floor ${e.floorFd.toFixed(3)})` : ''}, confidence ${e.confidence.toFixed(3)}, entropy ${e.entropy.toFixed(2)} bits, precision ${e.precision.toFixed(3)}, recall ${e.recall.toFixed(3)}\n`);
      const onEncode = (e: { done: number; total: number }) => {
        if (e.done === 1 || e.done === e.total || e.done % 50 === 0) process.stderr.write(`encoding captioned pictures into the run's cache: ${e.done}/${e.total}\n`);
      };
      const r = await train({ ...options, onStep: p.onStep, onEval, onEncode, signal: controller.signal });
      p.stop();
      const last = r.losses.slice(-Math.min(50, r.losses.length));
      const mean = last.reduce((s, x) => s + x, 0) / Math.max(1, last.length);
      process.stdout.write(`${r.stopped === 'interrupted' ? 'interrupted' : 'done'}: ${r.steps} steps, mean loss of the last ${last.length} ${mean.toFixed(4)}; checkpoint in ${r.out}\n`);
    } finally {
      p.stop();
      process.off('SIGINT', onSigint);
    }
  },
};
