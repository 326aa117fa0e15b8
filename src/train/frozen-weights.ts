/**
 * LoRA over a base whose weights are in external data (an SD-size UNet: 3.4 GB in weights.pb),
 * trained without ever holding those weights in this process and without copying them:
 * - the graph is read without its data (readModelHeader); each external weight becomes a
 *   zero-filled placeholder of its dims, whose pages the OS never materialises (nobody touches them);
 * - every model written from it (the step graph, the checkpoint's model.onnx) names each frozen
 *   weight by an external-data reference to its original bytes (location, offset, length) in a
 *   hard link to the base's data file placed in the run folder, and only the adapters inline;
 * - ONNX Runtime opens the step graph from its path, so it reads the weights itself.
 * A resumed run reads its own model.onnx the same way, through the run folder's hard link.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DiffusionError, OptionError } from '../core/errors';
import { ExternalRef, tensorBytes } from '../onnx/external-data';
import type { Model } from '../onnx/ir';
import { encodeModel } from '../onnx/proto';
import { allocate, numElements, Tensor } from '../onnx/tensor';
import { fullPrecisionWeights } from '../onnx/fp16';
import { upcastModel } from '../onnx/upcast';
import { readModelFiles, readModelHeader } from '../runtime/model-files';
import type { TrainOptions } from './options';
import type { FrozenByReference } from './setup-from-model';

/** External weights above which a LoRA run without previews keeps them by reference when `frozenByReference` is not given. */
export const FROZEN_REFERENCE_THRESHOLD = 2 ** 30;

const STEP_FILE = 'lora-step.onnx';
/** Files of a run folder that a data file's link must not replace. */
const RUN_FILES = new Set(['model.onnx', 'train.json', 'state', 'samples', 'preview', 'adapter.safetensors', 'loss.png', STEP_FILE]);

interface Frozen {
  ref: ExternalRef;
  /** The data file it is read from, absolute. */
  file: string;
  /** Its name in the run folder (the hard link's). */
  link: string;
}

/** The frozen weights of a model read by reference: each placeholder Tensor and where its bytes are. */
export class FrozenWeights implements FrozenByReference {
  private constructor(private readonly byTensor: Map<Tensor, Frozen>, readonly source: string) {}

  /** Placeholders for every external tensor of `file`'s graph (`model` is its header). */
  static of(model: Model, external: ExternalRef[], file: string): FrozenWeights {
    const byTensor = new Map<Tensor, Frozen>();
    const links = new Map<string, string>();
    for (const ref of external) {
      const data = path.join(path.dirname(path.resolve(file)), ref.location);
      const link = path.basename(ref.location);
      if (RUN_FILES.has(link)) throw new DiffusionError(`${file}: external data file '${ref.location}' has the name of a run folder's own file; rename it`);
      if ((links.get(link) ?? data) !== data) {
        throw new DiffusionError(`${file}: two external data files are named '${link}' ('${links.get(link)}', '${data}')`);
      }
      links.set(link, data);
      // calloc'd: not resident until written or read, and nothing reads them.
      const t = new Tensor(ref.dtype, [...ref.dims], allocate(ref.dtype, numElements(ref.dims)));
      model.graph.initializers.set(ref.tensor, t);
      byTensor.set(t, { ref, file: data, link });
    }
    return new FrozenWeights(byTensor, file);
  }

  get count(): number {
    return this.byTensor.size;
  }

  get bytes(): number {
    let n = 0;
    for (const f of this.byTensor.values()) n += tensorBytes(f.ref);
    return n;
  }

  /**
   * `model`'s protobuf with every frozen weight as a reference into its data file's link (beside
   * the written file), the rest inline. Refuses a model that lost a frozen weight or holds one
   * under another name: that weight was rewritten (say by constant folding), and its placeholder
   * is zeros.
   */
  encode(model: Model, what: string): Uint8Array {
    const seen = new Set<Tensor>();
    const bytes = encodeModel(model, undefined, (t, name) => {
      const f = this.byTensor.get(t);
      if (!f) return undefined;
      if (name !== f.ref.tensor) throw new DiffusionError(`${what}: the frozen weight '${f.ref.tensor}' of ${this.source} appears as '${name}'`);
      seen.add(t);
      return { location: f.link, offset: f.ref.offset, length: f.ref.length ?? tensorBytes(f.ref) };
    });
    for (const [t, f] of this.byTensor) {
      if (!seen.has(t)) {
        throw new DiffusionError(
          `${what}: the frozen weight '${f.ref.tensor}' of ${this.source} was rewritten while preparing the graph; train with frozenByReference: false`,
        );
      }
    }
    return bytes;
  }

  /**
   * Hard-links each data file into `folder` (kept when it is already the same file, as on
   * resume). A copy of gigabytes is never made: where no link can be made (another file system),
   * this says so.
   */
  linkInto(folder: string): void {
    const done = new Set<string>();
    for (const f of this.byTensor.values()) {
      if (done.has(f.link)) continue;
      done.add(f.link);
      const dest = path.join(folder, f.link);
      const src = fs.statSync(f.file);
      const have = fs.lstatSync(dest, { throwIfNoEntry: false });
      if (have && have.isFile() && have.ino === src.ino && have.dev === src.dev) continue;
      const tmp = `${dest}.tmp-${process.pid}`;
      try {
        fs.rmSync(tmp, { force: true });
        fs.linkSync(f.file, tmp);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        throw new DiffusionError(
          `${f.file}: cannot hard-link the frozen weights into ${folder} (${code}); `
          + 'put the run folder on the model\'s file system (LoRA over external data never copies them)',
        );
      }
      fs.renameSync(tmp, dest);
    }
  }

  /** Writes `model` as `file` (atomically), its frozen weights by reference to links beside it. */
  write(model: Model, file: string): void {
    const bytes = this.encode(model, file);
    this.linkInto(path.dirname(file));
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, file);
  }
}

/** Where a run folder's step graph is written for ORT to open from its path (kept, for inspection). */
export function stepGraphFile(folder: string): string {
  return path.join(folder, STEP_FILE);
}

/**
 * Float16 weights train as float32: the project's half storage (Cast of `name__fp16`) back to
 * float32 initializers under their names, then any float16 export widened (onnx/upcast.ts).
 */
function float32Model(model: Model): Model {
  return upcastModel(fullPrecisionWeights(model));
}

/**
 * The model of `file` for training: decoded with its weights, or, for LoRA over external data
 * (past FROZEN_REFERENCE_THRESHOLD, or `frozenByReference: true`), its graph with placeholders
 * and the FrozenWeights that say where their bytes are.
 */
export function readTrainModel(file: string, o: Readonly<TrainOptions>, threshold = FROZEN_REFERENCE_THRESHOLD): { model: Model; frozen?: FrozenWeights } {
  // Only LoRA leaves weights frozen; without it the graph is read once, with its weights.
  if (o.frozenByReference === false || (o.frozenByReference === undefined && o.lora === undefined)) return { model: float32Model(readModelFiles(file)) };
  if (o.frozenByReference === true && o.lora === undefined) {
    throw new OptionError('frozenByReference', 'only with `lora` (without it every weight trains)');
  }
  const { model, external } = readModelHeader(file);
  const bytes = external.reduce((s, r) => s + tensorBytes(r), 0);
  // Previews and evaluations run the model in this process, so they need its weights: asked for, the default reads them.
  const previews = Boolean(o.sampleEvery || o.evalEvery);
  const on = o.frozenByReference ?? (o.lora !== undefined && bytes > threshold && !previews);
  if (!on) return { model: float32Model(readModelFiles(file)) };
  if (external.length === 0) throw new OptionError('frozenByReference', `${file} keeps its weights inside; there is no external data to reference`);
  // float16 weights train as their float32 copy (onnx/upcast.ts), which is in memory, not in the file
  if (external.some((r) => r.dtype === 'float16')) {
    throw new OptionError('frozenByReference', `${file} stores float16 weights, which train widened to float32 in memory; `
      + 'pass frozenByReference: false (--no-frozen-by-reference; memory for the float32 copy) or train the float32 export');
  }
  if (previews) {
    const key = o.sampleEvery ? 'sampleEvery' : 'evalEvery';
    const why = `previews and evaluations are not made while the frozen weights stay in ${file}'s external data`;
    throw new OptionError(key, `${why}; pass 0 (sample from the checkpoint instead)`);
  }
  return { model, frozen: FrozenWeights.of(model, external, file) };
}
