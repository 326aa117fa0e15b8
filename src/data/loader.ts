/**
 * Seeded, resumable mini-batches. Each epoch visits every example once in an order shuffled by
 * the loader's Rng; a batch that runs past the end of an epoch continues into the next one, so
 * every batch is full even when the data set is smaller than the batch. Random horizontal flips
 * draw from the same Rng. The cursor (epoch, index, Rng states) is plain JSON: a loader restored
 * from `getState()` yields exactly the batches the original would have.
 */
import { Rng, type RngState } from '../core/rng';
import { DiffusionError } from '../core/errors';
import type { Dataset } from './dataset';

export interface Batch {
  size: number;
  /** size * C * H * W, NCHW in [-1, 1]. */
  x: Float32Array;
  /** Data set indices of the batch's examples. */
  indices: Int32Array;
  labels?: Int32Array;
  /** size * labelDim, 0/1. */
  multiLabels?: Float32Array;
  /** size * condChannels * H * W. */
  cond?: Float32Array;
  /** Per-image tensors of conditioning inputs of any name (manifest data), batch-major. */
  inputs?: Record<string, Float32Array>;
}

export interface LoaderState {
  epoch: number;
  /** Position in the current epoch's order. */
  index: number;
  /** The Rng state the current epoch's order was shuffled from. */
  epochRng: RngState;
  /** The Rng state now (after the shuffle and the flips drawn so far). */
  rng: RngState;
  /** Set in overfit mode: the fixed batch's size. */
  overfit?: number;
}

export interface LoaderOptions {
  batchSize: number;
  seed: number;
  /** Random horizontal flips, p = 0.5 per example (default false). Condition images flip too. */
  flip?: boolean;
}

/** setImmediate in Node; a page has none, and a zero timeout yields to its event loop just as well. */
const later: (f: () => void) => void = typeof setImmediate === 'function' ? (f) => setImmediate(f) : (f) => setTimeout(f, 0);

const clone = (s: RngState): RngState => ({ s: [...s.s], spare: s.spare });

export class BatchLoader {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly flip: boolean;
  private cursor: LoaderState;
  private order: { epochRng: string; perm: Int32Array } | null = null;
  private pending: Promise<{ batch: Batch; next: LoaderState }> | null = null;
  private fixed: Batch | null = null;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(dataset: Dataset, opts: LoaderOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
      throw new DiffusionError(`batch size must be a positive integer, got ${opts.batchSize}`);
    }
    if (dataset.length < 1) throw new DiffusionError(`${dataset.name}: the data set is empty`);
    this.dataset = dataset;
    this.batchSize = opts.batchSize;
    this.flip = opts.flip ?? false;
    const start = new Rng(opts.seed).getState();
    this.cursor = { epoch: 0, index: 0, epochRng: start, rng: this.shuffled(start).rng };
  }

  /** Examples per batch: batchSize, or N in overfit mode. */
  get size(): number {
    return this.cursor.overfit ?? this.batchSize;
  }

  /**
   * Overfit mode: every `next()` returns the same batch of the first n examples of the first
   * epoch's order, unflipped. For checking that a model can memorise.
   */
  overfitBatch(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new DiffusionError(`overfit batch size must be a positive integer, got ${n}`);
    this.setState({ ...this.cursor, overfit: n });
  }

  /**
   * The batch after the last one returned; the following one is prepared in the background
   * (setImmediate, or a timeout in a page) while the caller works. Overlapping calls are served in call order.
   */
  next(): Promise<Batch> {
    const batch = this.tail.then(() => this.advance());
    this.tail = batch.catch(() => undefined);
    return batch;
  }

  private async advance(): Promise<Batch> {
    const { batch, next } = await (this.pending ?? this.produceLater(this.cursor));
    this.cursor = next;
    this.pending = this.produceLater(next);
    // A rejected prefetch would be unhandled until the next call; surface it there instead.
    this.pending.catch(() => undefined);
    return batch;
  }

  /** The cursor after the last batch returned by `next()` (prefetched batches do not count). */
  getState(): LoaderState {
    return { ...this.cursor, epochRng: clone(this.cursor.epochRng), rng: clone(this.cursor.rng) };
  }

  setState(state: LoaderState): void {
    this.cursor = { ...state, epochRng: clone(state.epochRng), rng: clone(state.rng) };
    this.pending = null;
    this.fixed = null;
  }

  private produceLater(state: LoaderState): Promise<{ batch: Batch; next: LoaderState }> {
    return new Promise((resolve, reject) => {
      later(() => {
        try {
          resolve(this.produce(state));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** The epoch order shuffled from `epochRng`, and the Rng state after shuffling. */
  private shuffled(epochRng: RngState): { perm: Int32Array; rng: RngState } {
    const rng = Rng.fromState(epochRng);
    const perm = Int32Array.from({ length: this.dataset.length }, (_, i) => i);
    rng.shuffle(perm);
    return { perm, rng: rng.getState() };
  }

  private perm(epochRng: RngState): Int32Array {
    const key = JSON.stringify(epochRng);
    if (this.order?.epochRng !== key) this.order = { epochRng: key, perm: this.shuffled(epochRng).perm };
    return this.order.perm;
  }

  /** Pure in `state`: the batch at the cursor and the cursor after it. */
  private produce(state: LoaderState): { batch: Batch; next: LoaderState } {
    if (state.overfit !== undefined) {
      const n = state.overfit;
      if (this.fixed === null) {
        const perm = this.perm(state.epochRng);
        const idx = Int32Array.from({ length: n }, (_, k) => perm[k % perm.length]);
        this.fixed = this.gather(idx, new Uint8Array(n));
      }
      return { batch: this.copy(this.fixed), next: state };
    }
    let { epoch, index, epochRng } = state;
    let rngState = state.rng;
    const n = this.dataset.length;
    const idx = new Int32Array(this.batchSize);
    for (let k = 0; k < this.batchSize; k++) {
      if (index >= n) {
        // Next epoch: shuffle from where the Rng stands now.
        epoch++;
        index = 0;
        epochRng = rngState;
        rngState = this.shuffled(epochRng).rng;
      }
      idx[k] = this.perm(epochRng)[index++];
    }
    const rng = Rng.fromState(rngState);
    const flips = new Uint8Array(this.batchSize);
    if (this.flip) for (let k = 0; k < this.batchSize; k++) flips[k] = rng.uniform() < 0.5 ? 1 : 0;
    return { batch: this.gather(idx, flips), next: { epoch, index, epochRng, rng: rng.getState() } };
  }

  private gather(idx: Int32Array, flips: Uint8Array): Batch {
    const ds = this.dataset;
    const B = idx.length;
    const { height: H, width: W } = ds;
    const per = ds.channels * H * W;
    const batch: Batch = { size: B, x: new Float32Array(B * per), indices: idx };
    if (ds.label) batch.labels = new Int32Array(B);
    if (ds.multiLabel && ds.labelDim !== undefined) batch.multiLabels = new Float32Array(B * ds.labelDim);
    const condPer = (ds.condChannels ?? 0) * H * W;
    if (ds.cond && condPer > 0) batch.cond = new Float32Array(B * condPer);
    const tensors = Object.entries(ds.tensors ?? {}).map(([name, dims]) => ({ name, per: dims.reduce((p, d) => p * d, 1) }));
    if (tensors.length > 0) batch.inputs = Object.fromEntries(tensors.map((t) => [t.name, new Float32Array(B * t.per)]));
    for (let k = 0; k < B; k++) {
      const i = idx[k];
      ds.image(i, batch.x, k * per);
      if (batch.labels && ds.label) batch.labels[k] = ds.label(i);
      if (batch.multiLabels && ds.multiLabel) ds.multiLabel(i, batch.multiLabels, k * (ds.labelDim ?? 0));
      if (batch.cond && ds.cond) ds.cond(i, batch.cond, k * condPer);
      for (const t of tensors) ds.tensor!(t.name, i, batch.inputs![t.name], k * t.per);
      if (flips[k]) {
        flipRows(batch.x, k * per, per / W, W);
        if (batch.cond) flipRows(batch.cond, k * condPer, condPer / W, W);
      }
    }
    return batch;
  }

  private copy(b: Batch): Batch {
    const copy: Batch = {
      size: b.size,
      x: b.x.slice(),
      indices: b.indices.slice(),
      labels: b.labels?.slice(),
      multiLabels: b.multiLabels?.slice(),
      cond: b.cond?.slice(),
    };
    if (b.inputs) copy.inputs = Object.fromEntries(Object.entries(b.inputs).map(([k, v]) => [k, v.slice()]));
    return copy;
  }
}

/** Reverses each of `rows` rows of width `w` starting at `offset`, in place. */
export function flipRows(a: Float32Array, offset: number, rows: number, w: number): void {
  for (let r = 0; r < rows; r++) {
    const row = a.subarray(offset + r * w, offset + (r + 1) * w);
    row.reverse();
  }
}
