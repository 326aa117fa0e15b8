/**
 * A denoiser model.onnx bound to an ONNX Runtime (onnxruntime-node or onnxruntime-web, passed in).
 * Isomorphic: no Node imports. Reads the config from the file's metadata (or takes one for a
 * foreign model), validates conditioning inputs before ORT sees them, and runs one batch per call.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import type { Extras } from '../diffusion/sampler';
import { configFromJson, ModelConfig, readModelConfig } from '../core/model-config';
import { DiffusionError } from '../core/errors';
import { checkFeeds, FeedInfo } from '../core/feed-check';
import { checkConfigInputs } from '../diffusion/config-inputs';
import { inputDims } from '../core/cond-inputs';
import { readMetadata } from '../onnx/metadata';

export type { Extras };

/** The parts of an onnxruntime module this project uses. */
export interface OrtApi {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
}


export interface LoadOptions {
  /** Config for a model without metadata (e.g. a PyTorch export), as in test/fixtures/*.json. */
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
    // A pipeline file handed to pipeline()/loadModel() would otherwise fail as "not a valid ONNX model".
    if (bytes[0] === 0x7b) {
      throw new DiffusionError(`${source}: a JSON file, not an ONNX model; pipeline() and loadModel() take one model (a cascade or experts file loads with loadCascade or loadEnsemble)`);
    }
    const given = options.config;
    const config = given !== undefined
      ? (isModelConfig(given) ? given : configFromJson(given, `${source} config`))
      : readModelConfig(readMetadata(bytes, source), source);
    if (!config) {
      throw new DiffusionError(`${source}: the model carries no onnx-diffusion metadata; pass its config (the \`config\` option: a JSON file)`);
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
    const x = (session.inputMetadata ?? []).find((m) => m.name === 'x');
    checkConfigInputs(config, session.inputNames, source, x && x.isTensor ? x.shape : undefined);
    return new DiffusionModel(session, config, ort, source);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /** One network evaluation for a batch; returns the raw output (eps, x0 or v per the config). */
  async run(x: Float32Array, t: Int32Array, extras: Extras = {}): Promise<Float32Array> {
    const n = t.length;
    const size = this.config.image.size;
    // Images are [n, C, size, size] and labels [n, L], with C and L read off the lengths; a length
    // that does not split that way is shown flat. checkFeeds then names any mismatch before ORT.
    const image = (a: Float32Array) => (a.length % (n * size * size) === 0 ? [n, a.length / (n * size * size), size, size] : [a.length]);
    const info: Record<string, FeedInfo> = { x: { dtype: 'float32', dims: image(x), data: x }, t: { dtype: 'int64', dims: [n], data: t } };
    if (extras.class) info.class = { dtype: 'int64', dims: [extras.class.length], data: extras.class };
    if (extras.labels) info.labels = { dtype: 'float32', dims: extras.labels.length % n === 0 ? [n, extras.labels.length / n] : [extras.labels.length], data: extras.labels };
    if (extras.cond) info.cond = { dtype: 'float32', dims: image(extras.cond), data: extras.cond };
    if (this.config.conditioning.augment) {
      const aug = extras.aug ?? new Int32Array(n);
      info.aug = { dtype: 'int64', dims: [aug.length], data: aug };
    }
    for (const input of this.config.conditioning.inputs ?? []) {
      const data = extras.inputs?.[input.name];
      if (data === undefined) continue;
      info[input.name] = { dtype: input.dtype, dims: inputDims(input, n, data.length), data: input.dtype === 'int64' ? Int32Array.from(data) : data };
    }
    checkFeeds(this.config, info);
    const feeds: Record<string, OrtTensor> = {};
    for (const [name, f] of Object.entries(info)) {
      feeds[name] = f.dtype === 'int64'
        ? new this.ort.Tensor('int64', toInt64(f.data as Int32Array), f.dims)
        : new this.ort.Tensor('float32', f.data as Float32Array, f.dims);
    }
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
