/**
 * Benchmark (not a test): one training step of full fine-tuning vs LoRA rank 4 and 16, for the
 * PyTorch fixture torch-textcond-16px, the unet-cifar10 recipe (35.7 M parameters) and a diffusers
 * export (`--export FILE.onnx` with FILE.json beside it, e.g. the DDPM CIFAR-10 UNet): step time,
 * bytes fed to and fetched from ONNX Runtime per step, and the process's peak RSS. LoRA runs in
 * both forms: on the activation path (y + s B(A x), what nn/lora.ts builds) and, for comparison
 * only, the former weight path (W' = W + s B A formed in-graph every step; built here, nowhere
 * else). Each case runs in its own process (peak RSS is per process). CPU only.
 *   node --import tsx tools/bench-lora.ts [--runs 3] [--threads N] [--only fixture|cifar10|export] [--export F.onnx] [--batch B]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { configFromJson, ModelConfig, readModelConfig } from '../src/core/model-config';
import { Rng } from '../src/core/rng';
import { buildModel, loadRecipe } from '../src/nn';
import { insertLora, LORA_TRAINABLE } from '../src/nn/lora';
import { weightForm } from './lora-weight-form';
import { Model } from '../src/onnx/ir';
import { decodeModel } from '../src/onnx/proto';
import { Tensor } from '../src/onnx/tensor';
import { NodeSession } from '../src/runtime/node';
import { flattenParams } from '../src/train/params';
import { buildStepGraph } from '../src/train/step-graph';
import { setupModel } from '../src/train/setup';

const root = resolve(__dirname, '..');
const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : d;
};

interface Case { model: 'fixture' | 'cifar10' | 'export'; rank: number; form: 'activation' | 'weight'; batch: number; runs: number; threads: number; file?: string }
interface Result { params: number; trained: number; stepMs: number; fedBytes: number; fetchedBytes: number; buildMs: number; peakRssMb: number }

function load(which: Case['model'], batch: number, file?: string): { model: Model; config: ModelConfig } {
  if (which === 'export') {
    // A foreign export as exported: roles by name, dims pinned to the batch, shapes folded (train/setup).
    const setup = setupModel({ init: file, config: file!.replace(/\.onnx$/, '.json'), batch });
    return { model: setup.trainModel, config: setup.config };
  }
  if (which === 'fixture') {
    const f = join(root, 'test/fixtures/torch-textcond-16px');
    return { model: decodeModel(readFileSync(`${f}.onnx`)), config: configFromJson(JSON.parse(readFileSync(`${f}.json`, 'utf8')), 'fixture') };
  }
  // The inference graph (no Dropout nodes): the step's cost without dropout's masks.
  const model = buildModel(loadRecipe(join(root, 'graphs/unet-cifar10.json')));
  return { model, config: readModelConfig(model.metadata, 'cifar10')! };
}

const bytes = (ts: Record<string, Tensor>) => Object.values(ts).reduce((s, t) => s + t.data.byteLength, 0);

async function runCase(c: Case): Promise<Result> {
  const t0 = performance.now();
  const base = load(c.model, c.batch, c.file);
  const model = c.rank === 0 ? base.model : c.form === 'weight' ? weightForm(base.model, c.rank) : insertLora(base.model, { rank: c.rank });
  const step = buildStepGraph(model, base.config, { batch: c.batch, trainable: c.rank > 0 ? LORA_TRAINABLE : undefined });
  const session = await NodeSession.create(step.model, { threads: c.threads });
  const buildMs = performance.now() - t0;
  const params = flattenParams(model.graph, step.layout);
  const { channels: ch, size } = base.config.image;
  const rng = new Rng(0);
  const img = () => Tensor.float32([c.batch, ch, size, size], rng.normalArray(c.batch * ch * size * size));
  const feeds: Record<string, Tensor> = {
    x0: img(), noise: img(), t: Tensor.int64([c.batch], Array.from({ length: c.batch }, () => rng.int(0, 999))),
    params: new Tensor('float32', [params.length], params), m: Tensor.float32([params.length]), v: Tensor.float32([params.length]),
    ema: new Tensor('float32', [params.length], params.slice()), step: Tensor.scalar(1), lr: Tensor.scalar(1e-4), ema_decay: Tensor.scalar(0.999), max_norm: Tensor.scalar(1),
  };
  for (const i of base.config.conditioning.inputs ?? []) feeds[i.name] = Tensor.float32([c.batch, ...(i.shape.slice(1) as number[])], rng.normalArray(c.batch * 64));
  let out = await session.run(feeds); // warm-up
  const times: number[] = [];
  for (let r = 0; r < c.runs; r++) {
    const s = performance.now();
    out = await session.run(feeds);
    times.push(performance.now() - s);
  }
  await session.release();
  const total = [...model.graph.initializers.values()].filter((t) => t.dtype === 'float32').reduce((s, t) => s + t.size, 0);
  times.sort((a, b) => a - b);
  return {
    params: total, trained: params.length, stepMs: times[Math.floor(times.length / 2)], fedBytes: bytes(feeds), fetchedBytes: bytes(out), buildMs,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

async function main(): Promise<void> {
  const one = arg('case', '');
  if (one) {
    process.stdout.write(JSON.stringify(await runCase(JSON.parse(one) as Case)));
    return;
  }
  const runs = Number(arg('runs', '3'));
  const threads = Number(arg('threads', String(availableParallelism())));
  const only = arg('only', '');
  // A foreign export is benchmarked only when given (it is not in the repository).
  const file = arg('export', '');
  const models: Case['model'][] = only ? [only as Case['model']] : ['fixture', 'cifar10', ...(file ? ['export' as const] : [])];
  if (models.includes('export') && !file) throw new Error('--only export needs --export FILE.onnx (with FILE.json beside it)');
  const mb = (b: number) => (b / 2 ** 20).toFixed(b < 2 ** 20 ? 3 : 1);
  console.log(`${new Date().toISOString().slice(0, 10)}; ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, ${threads} threads; load average ${loadavg()[0].toFixed(1)}; CPU execution provider`);
  console.log('| model | mode | trained / all params | step ms (median) | fed MiB/step | fetched MiB/step | peak RSS MiB | graph build + session ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const model of models) {
    const batch = Number(arg('batch', model === 'fixture' ? '16' : '2'));
    let full: Result | undefined;
    const cases = [[0, 'activation'], [4, 'activation'], [4, 'weight'], [16, 'activation'], [16, 'weight']] as const;
    for (const [rank, form] of cases) {
      const c: Case = { model, rank, form, batch, runs: model === 'fixture' ? runs * 5 : runs, threads, file };
      const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--case', JSON.stringify(c)], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`case ${JSON.stringify(c)} failed: ${r.stderr}`);
      const res = JSON.parse(r.stdout) as Result;
      full ??= res;
      const ratio = (v: number, f: number) => (res === full ? '' : ` (${(v / f).toFixed(v / f < 0.01 ? 4 : 2)}x)`);
      const name = model === 'fixture' ? 'torch-textcond-16px' : model === 'cifar10' ? 'unet-cifar10' : file.split('/').pop();
      console.log(`| ${name} b${batch} | ${rank === 0 ? 'full' : `LoRA r${rank} ${form === 'activation' ? 'y + sB(Ax)' : "W' = W + sBA"}`} | ${res.trained.toLocaleString('en-US')} / ${res.params.toLocaleString('en-US')}`
        + ` | ${res.stepMs.toFixed(1)}${ratio(res.stepMs, full.stepMs)} | ${mb(res.fedBytes)}${ratio(res.fedBytes, full.fedBytes)} | ${mb(res.fetchedBytes)}${ratio(res.fetchedBytes, full.fetchedBytes)}`
        + ` | ${res.peakRssMb.toFixed(0)}${ratio(res.peakRssMb, full.peakRssMb)} | ${res.buildMs.toFixed(0)} |`);
    }
  }
}

void main();
