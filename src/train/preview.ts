/**
 * Conditioning for the preview samples (--sample-every) and evaluations (--eval-every) of a run:
 * the first training batch's conditioning inputs (manifest tensors such as encoder_hidden_states),
 * stored with the run as OUT/preview/<name>.npy so a resumed run previews with the same ones.
 * A preview is a side product: when it fails the run is told on stderr and goes on training.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Batch } from '../data/loader';
import { encodeNpy } from '../data/npy';
import { readNpyFile } from '../data/npy-file';
import { writeFileAtomic } from '../core/node/atomic-file';

export const PREVIEW_DIR = 'preview';
/** Examples kept: a preview grid shows at most this many conditioned images. */
const KEEP = 16;

/**
 * The batch previews are conditioned on: on a resumed run, `first` with the inputs stored in
 * `runDir`; otherwise `first`, whose inputs (up to 16 examples) are stored into `writeDir`.
 */
export async function previewBatch(first: Batch, runDir: string, writeDir: string, resuming: boolean): Promise<Batch> {
  const stored = join(runDir, PREVIEW_DIR);
  if (resuming && existsSync(stored)) {
    const inputs: Record<string, Float32Array> = {};
    let size = first.size;
    for (const f of readdirSync(stored).filter((n) => n.endsWith('.npy'))) {
      const a = readNpyFile(join(stored, f), 'stored preview input');
      if (!(a.data instanceof Float32Array) || a.shape.length < 1) continue;
      inputs[f.slice(0, -4)] = a.data;
      size = Math.min(size, a.shape[0]);
    }
    return Object.keys(inputs).length > 0 ? { ...first, size: Math.min(first.size, size), inputs } : first;
  }
  if (!first.inputs) return first;
  const k = Math.min(KEEP, first.size);
  const inputs: Record<string, Float32Array> = {};
  for (const [name, all] of Object.entries(first.inputs)) {
    const per = all.length / first.size;
    inputs[name] = all.slice(0, k * per);
    await writeFileAtomic(join(writeDir, PREVIEW_DIR, `${name}.npy`), encodeNpy({ dtype: 'float32', shape: [k, per], data: inputs[name] }));
  }
  return { ...first, inputs };
}

/** `inputs` of `k` examples repeated to `n` (createSampler takes one image's values or n images'). */
export function tileInputs(inputs: Record<string, Float32Array> | undefined, k: number, n: number): Record<string, Float32Array> | undefined {
  if (!inputs) return undefined;
  return Object.fromEntries(Object.entries(inputs).map(([name, v]) => {
    const per = v.length / k;
    const out = new Float32Array(n * per);
    for (let i = 0; i < n; i++) out.set(v.subarray((i % k) * per, (i % k + 1) * per), i * per);
    return [name, out];
  }));
}

/** Runs a preview; a failure is reported on stderr (one line) and the run goes on. */
export async function tryPreview(what: string, step: number, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (e) {
    process.stderr.write(`warning: ${what} at step ${step} failed, training continues: ${(e as Error).message.split('\n')[0]}\n`);
  }
}
