/**
 * A denoiser model.onnx bound to an ONNX Runtime (onnxruntime-node or onnxruntime-web, passed in).
 * Isomorphic: no Node imports. Reads the config from the file's metadata (or takes one for a
 * foreign model), validates conditioning inputs before ORT sees them, and runs one batch per call.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import type { Extras } from '../diffusion/sampler';
import { configFromJson, ModelConfig, readModelConfig } from '../diffusion/model-config';
import { DiffusionError } from '../errors';
import { readMetadata } from '../onnx/metadata';

export type { Extras };

/** The parts of an onnxruntime module this project uses. */
export interface OrtApi {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
}


export interface LoadOptions {
  /** Config for a model without metadata (e.g. a PyTorch export), as in ../shared/fixtures/*.json. */
  config?: ModelConfig | unknown;
  sessionOptions?: InferenceSession.SessionOptions;
  /** Names the model in errors (a path or URL). */
  source?: string;
}

function toInt64(a: Int32Array): BigInt64Array {
  const out = new BigInt64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = BigInt(a[i]);
  return out;
}

export class DiffusionModel {
  private constructor(
    readonly session: InferenceSession,
    readonly config: ModelConfig,
    private readonly ort: OrtApi,
    readonly source: string,
  ) {}

  static async create(ort: OrtApi, bytes: Uint8Array, options: LoadOptions = {}): Promise<DiffusionModel> {
    const source = options.source ?? 'model';
    const given = options.config;
    const config = given !== undefined
      ? (isModelConfig(given) ? given : configFromJson(given, `${source} config`))
      : readModelConfig(readMetadata(bytes, source), source);
    if (!config) {
      throw new DiffusionError(`${source}: the model carries no onnx-diffusion metadata; pass its config (--config file.json)`);
    }
    let session: InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, options.sessionOptions);
    } catch (e) {
      throw new DiffusionError(`${source}: ONNX Runtime could not load it: ${String((e as Error).message).split('\n')[0]}`);
    }
    for (const name of ['x', 't']) {
      if (!session.inputNames.includes(name)) throw new DiffusionError(`${source}: the model has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);
    }
    return new DiffusionModel(session, config, ort, source);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /** Checks conditioning against the config; a wrong shape fails here, before ORT does. */
  checkExtras(n: number, extras: Extras): void {
    const { conditioning: c, image } = this.config;
    const needs = (name: string, present: boolean, what: string) => {
      if (this.inputNames.includes(name) && !present) throw new DiffusionError(`${this.source}: the model needs ${what} (input '${name}')`);
    };
    needs('class', !!extras.class, 'a class for each image (--class)');
    needs('labels', !!extras.labels, 'a multi-hot label vector (--labels)');
    needs('cond', !!extras.cond, 'a condition image (--cond)');
    if (extras.class && extras.class.length !== n) throw new DiffusionError(`class: expected ${n} values, got ${extras.class.length}`);
    if (extras.class && c.classes !== undefined) {
      for (const k of extras.class) if (k < 0 || k > c.classes) throw new DiffusionError(`class: ${k} is outside [0, ${c.classes - 1}] (${c.classes} = null class)`);
    }
    if (extras.labels && extras.labels.length !== n * (c.labels ?? 0)) {
      throw new DiffusionError(`labels: expected [${n},${c.labels ?? 0}], got ${extras.labels.length} values`);
    }
    if (extras.cond) {
      const cc = c.condChannels ?? image.channels;
      const want = n * cc * image.size * image.size;
      if (extras.cond.length !== want) throw new DiffusionError(`cond: expected [${n},${cc},${image.size},${image.size}], got ${extras.cond.length} values`);
    }
  }

  /** One network evaluation for a batch; returns the raw output (eps, x0 or v per the config). */
  async run(x: Float32Array, t: Int32Array, extras: Extras = {}): Promise<Float32Array> {
    const n = t.length;
    const { channels, size } = this.config.image;
    if (x.length !== n * channels * size * size) throw new DiffusionError(`x: expected [${n},${channels},${size},${size}], got ${x.length} values`);
    this.checkExtras(n, extras);
    const T = this.ort.Tensor;
    const feeds: Record<string, OrtTensor> = {
      x: new T('float32', x, [n, channels, size, size]),
      t: new T('int64', toInt64(t), [n]),
    };
    const names = this.inputNames;
    if (extras.class && names.includes('class')) feeds.class = new T('int64', toInt64(extras.class), [n]);
    if (extras.labels && names.includes('labels')) feeds.labels = new T('float32', extras.labels, [n, extras.labels.length / n]);
    if (extras.cond && names.includes('cond')) feeds.cond = new T('float32', extras.cond, [n, extras.cond.length / (n * size * size), size, size]);
    if (names.includes('aug')) feeds.aug = new T('int64', toInt64(extras.aug ?? new Int32Array(n)), [n]);
    let res: InferenceSession.ReturnType;
    try {
      res = await this.session.run(feeds);
    } catch (e) {
      throw new DiffusionError(`${this.source}: ONNX Runtime run failed: ${String((e as Error).message).split('\n')[0]}`);
    }
    const out = res[this.session.outputNames[0]];
    return out.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function isModelConfig(v: unknown): v is ModelConfig {
  return typeof v === 'object' && v !== null && (v as ModelConfig).format === 'onnx-diffusion/1';
}
