import * as os from 'os';
import type * as ort from 'onnxruntime-node';
import { ortNode } from './ort-node';
import { DiffusionError, OptionError } from '../core/errors';
import { cudaExecutionProviders, cudaPreflight, explainCudaFailure } from './cuda';
import { encodeModel } from '../onnx/proto';
import { Model } from '../onnx/ir';
import { Tensor } from '../onnx/tensor';
import { fromOrt, toOrt } from './ort-tensor';

export type Device = 'cpu' | 'cuda';

export interface SessionOptions {
  device?: Device;
  deviceId?: number;
  /** Intra-op threads; defaults to the number of cores. */
  threads?: number;
  /**
   * ORT's memory pattern: one block planned for all intermediates of a run (default true). Off,
   * each tensor is taken from the arena when produced and returned after its last use: training
   * steps turn it off, which halves their peak RSS at no measured cost (docs/autodiff.md).
   */
  memoryPattern?: boolean;
  /** ORT's graph optimization level (default 'all'); a LoRA step over SD-size frozen weights uses 'disabled' (docs/lora.md). */
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** false: ORT keeps no pre-packed copy of constant weights (default true, ORT's own default). */
  prepacking?: boolean;
}

/** Session options for every graph here: all optimisations, intra-op threads = cores, CPU or CUDA. */
export function sessionOptions(opts: SessionOptions = {}): ort.InferenceSession.SessionOptions {
  const device = opts.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new OptionError('device', `must be cpu or cuda, got "${String(device)}"`);
  const threads = opts.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw new OptionError('threads', `must be a positive integer, got ${threads}`);
  return {
    graphOptimizationLevel: opts.graphOptimization ?? 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableMemPattern: opts.memoryPattern ?? true,
    executionProviders: device === 'cuda' ? cudaExecutionProviders(opts.deviceId ?? 0) : ['cpu'],
    logSeverityLevel: SEVERITY[ortNode().env.logLevel ?? 'warning'],
    ...(opts.prepacking === false ? { extra: { session: { disable_prepacking: '1' } } } : {}),
  };
}

const SEVERITY = { verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 } as const;

/**
 * ONNX Runtime's own log lines ("[E:onnxruntime:...]") repeat what our errors say, less clearly:
 * the CLI keeps them quiet (fatal only) unless --verbose. Sessions created after this follow it.
 */
export function setOrtLogging(verbose: boolean): void {
  ortNode().env.logLevel = verbose ? 'warning' : 'fatal';
}

/** An ONNX Runtime session over our Tensor type (onnxruntime-node). */
export class NodeSession {
  private constructor(readonly session: ort.InferenceSession, readonly device: Device) {}

  /** From a model, its bytes, or its file path (then ORT reads the external data beside it, from any working directory). */
  static async create(model: Model | Uint8Array | string, options: SessionOptions = {}): Promise<NodeSession> {
    const bytes = typeof model === 'string' || model instanceof Uint8Array ? model : encodeModel(model);
    const device = options.device ?? 'cpu';
    if (device === 'cuda') cudaPreflight();
    const so = sessionOptions(options);
    try {
      const session = typeof bytes === 'string' ? await ortNode().InferenceSession.create(bytes, so) : await ortNode().InferenceSession.create(bytes, so);
      return new NodeSession(session, device);
    } catch (e) {
      const cudaWhy = device === 'cuda' ? explainCudaFailure((e as Error).message) : null;
      if (cudaWhy) throw new DiffusionError(cudaWhy);
      throw new DiffusionError(`ONNX Runtime could not load the model: ${firstLine((e as Error).message)}`);
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  async run(feeds: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>> {
    const f: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = toOrt(ortNode(), v) as ort.Tensor;
    let res: ort.InferenceSession.ReturnType;
    try {
      res = outputs ? await this.session.run(f, outputs) : await this.session.run(f);
    } catch (e) {
      throw new DiffusionError(`ONNX Runtime run failed: ${firstLine((e as Error).message)}`);
    }
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = fromOrt(v);
    return out;
  }

  /** Frees the ONNX Runtime session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }

  /** @deprecated Use dispose(); `release` is kept for one version. */
  release(): Promise<void> {
    return this.dispose();
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}
