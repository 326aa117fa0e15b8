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
import { checkConfigInputs, DeclaredValue, ModelIo, resolveIo, withGraphInputs } from '../diffusion/config-inputs';
import { inputDims } from '../core/cond-inputs';
import { readMetadata } from '../onnx/metadata';
import { floatToHalf, halfToFloat } from '../onnx/tensor';

export type { Extras };

/** Element types DiffusionModel feeds (as the graph declares each input). */
export type FeedType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32';
type FeedArray = Float32Array | Uint16Array | Float64Array | BigInt64Array | Int32Array;

/** The parts of an onnxruntime module this project uses. */
export interface OrtApi {
  InferenceSession: {
    create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession>;
    create(path: string, options?: InferenceSession.SessionOptions): Promise<InferenceSession>;
  };
  Tensor: new (type: FeedType, data: FeedArray, dims: readonly number[]) => OrtTensor;
}


export interface LoadOptions {
  /** Config for a model without metadata (e.g. a PyTorch export), as in test/fixtures/*.json. */
  config?: ModelConfig | unknown;
  sessionOptions?: InferenceSession.SessionOptions;
  /** Names the model in errors (a path or URL). */
  source?: string;
  /**
   * The model file's path: ORT then reads the file itself and finds its external data beside it,
   * from any working directory (Node; `bytes` still give the metadata).
   */
  path?: string;
}

/** `values` (numbers) in the typed array of `dtype`. */
function typed(dtype: FeedType, values: ArrayLike<number>): FeedArray {
  switch (dtype) {
    case 'float32':
      return values instanceof Float32Array ? values : Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'float16':
      return Uint16Array.from(values, floatToHalf);
    case 'int32':
      return Int32Array.from(values);
    case 'int64':
      return BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
  }
}

const FEED_TYPES: readonly string[] = ['float32', 'float16', 'float64', 'int64', 'int32'];

export class DiffusionModel {
  private constructor(
    readonly session: InferenceSession,
    readonly config: ModelConfig,
    private readonly ort: OrtApi,
    readonly source: string,
    /** Which graph input is the sample and the timestep (fed in its declared dtype and shape), which output the prediction. */
    readonly io: ModelIo,
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
      session = options.path !== undefined
        ? await ort.InferenceSession.create(options.path, options.sessionOptions)
        : await ort.InferenceSession.create(bytes, options.sessionOptions);
    } catch (e) {
      throw new DiffusionError(`${source}: ONNX Runtime could not load it: ${String((e as Error).message).split('\n')[0]}`);
    }
    try {
      const io = resolveIo(config, declaredInputs(session), session.outputNames, source);
      const full = withGraphInputs(config, io, source);
      checkConfigInputs(full, session.inputNames, source, io.declared[io.sample].shape, io);
      return new DiffusionModel(session, full, ort, source, io);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /** One network evaluation for a batch; returns the raw output (eps, x0 or v per the config). */
  async run(x: Float32Array, t: Int32Array, extras: Extras = {}): Promise<Float32Array> {
    const n = t.length;
    const size = this.config.image.size;
    const { sample, timestep } = this.io;
    // Images are [n, C, size, size] and labels [n, L], with C and L read off the lengths; a length
    // that does not split that way is shown flat. checkFeeds then names any mismatch before ORT.
    const image = (a: Float32Array) => (a.length % (n * size * size) === 0 ? [n, a.length / (n * size * size), size, size] : [a.length]);
    const info: Record<string, FeedInfo> = { [sample]: { dtype: 'float32', dims: image(x), data: x }, [timestep]: { dtype: 'int64', dims: [n], data: t } };
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
    checkFeeds(this.config, info, this.io);
    const feeds: Record<string, OrtTensor> = {};
    for (const [name, f] of Object.entries(info)) {
      const declared = this.io.declared[name]?.dtype;
      const dtype = (declared !== undefined && FEED_TYPES.includes(declared) ? declared : f.dtype) as FeedType;
      if (name === timestep) {
        feeds[name] = this.timestepTensor(t);
        continue;
      }
      feeds[name] = new this.ort.Tensor(dtype, typed(dtype, f.data as ArrayLike<number>), f.dims);
    }
    let res: InferenceSession.ReturnType;
    try {
      res = await this.session.run(feeds);
    } catch (e) {
      throw new DiffusionError(`${this.source}: ONNX Runtime run failed: ${String((e as Error).message).split('\n')[0]}`);
    }
    const out = res[this.io.prediction];
    if (out.type === 'float16') return Float32Array.from(out.data as Uint16Array, halfToFloat);
    return out.data instanceof Float32Array ? out.data : Float32Array.from(out.data as ArrayLike<number>);
  }

  /** The timestep as the graph declares it: [N], [1] (one value for the batch) or a scalar, in its dtype. */
  private timestepTensor(t: Int32Array): OrtTensor {
    const { dtype, form } = this.io.timestepFeed;
    if (form === 'batch') return new this.ort.Tensor(dtype, typed(dtype, t), [t.length]);
    if (t.some((v) => v !== t[0])) {
      throw new DiffusionError(`${this.io.timestep}: the graph takes one timestep for the whole batch (${form === 'one' ? '[1]' : 'a scalar'}), got different ones: ${Array.from(t).join(',')}`);
    }
    return new this.ort.Tensor(dtype, typed(dtype, t.subarray(0, 1)), form === 'one' ? [1] : []);
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

/** The graph's inputs as ORT declares them (ORT builds without inputMetadata: names only, dtypes ours). */
function declaredInputs(session: InferenceSession): DeclaredValue[] {
  const meta = session.inputMetadata;
  return session.inputNames.map((name, i): DeclaredValue => {
    const m = Array.isArray(meta) ? meta[i] : undefined;
    if (m && m.isTensor) return { name, dtype: String(m.type), shape: m.shape };
    return { name, dtype: name === 't' || name === 'class' || name === 'aug' ? 'int64' : 'float32' };
  });
}

function isModelConfig(v: unknown): v is ModelConfig {
  return typeof v === 'object' && v !== null && (v as ModelConfig).format === 'onnx-diffusion/1';
}
