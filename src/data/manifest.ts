/**
 * `manifest:DIR` (or `manifest:FILE.jsonl`): images paired with per-image tensors for conditioning
 * inputs of any name. DIR/manifest.jsonl has one JSON object per line:
 *   {"image": "cat.png", "encoder_hidden_states": "emb/cat.npy"}          one .npy per image
 *   {"image": "dog.png", "encoder_hidden_states": "all.npy#3"}            row 3 of a stacked .npy
 *   {"image": "cow.png", "y": 7}  /  {"image": "cow.png", "y": [0.1, 0.2]}  inline values
 *   {"sample": "latents.npy#0", "encoder_hidden_states": "emb.npy#0"}   latents, no image
 * Paths are relative to the manifest's folder. Every line names the same keys, and each key's
 * tensors have the same shape (a leading dim of 1 is dropped). Images are decoded like folder:DIR.
 * Instead of `image`, a line may give the noisy input itself as a tensor under the model input's
 * name (`x`, `sample`, ...: latents of any channel count, used as they are, not scaled).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DiffusionError, FileFormatError } from '../core/errors';
import type { Dataset, DatasetRequest } from './dataset';
import { decodeAll } from './folder';
import { MemoryDataset } from './memory';
import { decodeNpy, npyToFloat32, type NpyArray } from './npy';
import { ROLE_NAMES } from '../core/io-roles';

export const MANIFEST_FILE = 'manifest.jsonl';

interface Entry {
  /** The image file, or undefined when the line gives the noisy input as a tensor (`sample`). */
  image?: string;
  values: Record<string, { dims: number[]; data: Float32Array }>;
}

/** The key a line gives the noisy input's tensor under, when it has no `image`. */
function sampleKey(o: Record<string, unknown>, sample?: string): string | undefined {
  if (sample !== undefined) return sample in o ? sample : undefined;
  return ROLE_NAMES.sample.find((n) => n in o);
}

/** Reads one manifest value: a .npy path (optionally `#row`), a number or an array of numbers. */
function readValue(v: unknown, at: string, dir: string, cache: Map<string, NpyArray>): { dims: number[]; data: Float32Array } {
  if (typeof v === 'number') return { dims: [], data: Float32Array.of(v) };
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return { dims: [v.length], data: Float32Array.from(v as number[]) };
  if (typeof v !== 'string') throw new DiffusionError(`${at}: expected a .npy path, a number or an array of numbers`);
  const m = /^(.*?)(?:#(\d+))?$/.exec(v)!;
  const file = join(dir, m[1]);
  let arr = cache.get(file);
  if (!arr) {
    if (!existsSync(file)) throw new DiffusionError(`${at}: ${file}: no such file`);
    arr = decodeNpy(readFileSync(file), file);
    cache.set(file, arr);
  }
  const all = npyToFloat32(arr);
  if (m[2] === undefined) {
    const dims = arr.shape[0] === 1 ? arr.shape.slice(1) : arr.shape;
    return { dims, data: all };
  }
  const row = Number(m[2]);
  if (arr.shape.length === 0 || row >= arr.shape[0]) throw new DiffusionError(`${at}: ${file} has ${arr.shape[0] ?? 0} rows, no row ${row}`);
  const dims = arr.shape.slice(1);
  const per = dims.reduce((p, d) => p * d, 1);
  return { dims, data: all.subarray(row * per, (row + 1) * per) };
}

/** Parses the manifest's lines; errors name the file, line and key. */
export function readManifest(path: string, sample?: string): { entries: Entry[]; sample?: string } {
  const dir = dirname(path);
  const cache = new Map<string, NpyArray>();
  const entries: Entry[] = [];
  let keys: string[] | undefined;
  let sampleName: string | undefined;
  readFileSync(path, 'utf8').split('\n').forEach((line, k) => {
    if (line.trim() === '') return;
    const at = `${path}:${k + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new FileFormatError(at, 'not a JSON object');
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new FileFormatError(at, 'not a JSON object');
    const o = obj as Record<string, unknown>;
    const latent = o.image === undefined ? sampleKey(o, sample) : undefined;
    if (typeof o.image !== 'string' && latent === undefined) {
      throw new FileFormatError(at, `expected "image": "path/to/image.png", or the noisy input's tensor under its name (e.g. "${sample ?? 'sample'}": "latents.npy#0")`);
    }
    if (entries.length > 0 && (latent ?? 'image') !== (sampleName ?? 'image')) {
      throw new FileFormatError(at, `gives the input as "${latent ?? 'image'}", line 1 as "${sampleName ?? 'image'}"`);
    }
    sampleName = latent;
    const names = Object.keys(o).filter((n) => n !== 'image').sort();
    keys ??= names;
    if (names.join(',') !== keys.join(',')) throw new FileFormatError(at, `keys ${names.join(', ') || 'none'} differ from line 1's (${keys.join(', ') || 'none'})`);
    const values: Entry['values'] = {};
    for (const n of names) {
      values[n] = readValue(o[n], `${at}: ${n}`, dir, cache);
      const first = entries[0]?.values[n];
      if (first && first.dims.join(',') !== values[n].dims.join(',')) {
        throw new FileFormatError(`${at}: ${n}`, `shape [${values[n].dims.join(', ')}] differs from line 1's [${first.dims.join(', ')}]`);
      }
    }
    entries.push({ image: latent === undefined ? (o.image as string) : undefined, values });
  });
  if (entries.length === 0) throw new FileFormatError(path, 'the manifest lists no images');
  return { entries, sample: sampleName };
}

/** Opens a manifest data set: the images as folder:DIR decodes them, and their tensors. */
export async function openManifest(spec: string, want: DatasetRequest): Promise<Dataset> {
  const path = statSync(spec, { throwIfNoEntry: false })?.isDirectory() ? join(spec, MANIFEST_FILE) : spec;
  if (!existsSync(path)) throw new DiffusionError(`${path}: no such manifest (manifest:DIR reads DIR/${MANIFEST_FILE})`);
  const { entries, sample } = readManifest(path, want.sample);
  const name0 = `manifest:${spec}`;
  const base = sample === undefined
    ? new MemoryDataset({ name: name0, length: entries.length, channels: want.channels, height: want.size, width: want.size,
      images: await decodeAll(dirname(path), entries.map((e) => e.image!), want.channels, want.size) })
    : latentDataset(name0, path, entries, sample, want);
  const tensors: Record<string, number[]> = {};
  const blocks: Record<string, Float32Array> = {};
  for (const [name, first] of Object.entries(entries[0].values)) {
    if (name === sample) continue;
    tensors[name] = first.dims;
    const per = first.data.length;
    const block = new Float32Array(entries.length * per);
    entries.forEach((e, i) => block.set(e.values[name].data, i * per));
    blocks[name] = block;
  }
  return Object.assign(base, {
    tensors,
    tensor(name: string, i: number, out: Float32Array, offset: number): void {
      const block = blocks[name];
      if (!block) throw new DiffusionError(`${base.name}: no tensor '${name}' (it has ${Object.keys(blocks).join(', ') || 'none'})`);
      const per = block.length / entries.length;
      out.set(block.subarray(i * per, (i + 1) * per), offset);
    },
  });
}

/** The noisy input's tensors as the data set's images: [channels, size, size] each, used as they are. */
function latentDataset(name: string, path: string, entries: Entry[], sample: string, want: DatasetRequest): Dataset {
  const dims = entries[0].values[sample].dims;
  const expect = [want.channels, want.size, want.size];
  if (dims.join(',') !== expect.join(',')) {
    throw new FileFormatError(`${path}: ${sample}`, `tensors are [${dims.join(', ')}], the model takes [${expect.join(', ')}] per image`);
  }
  const per = dims.reduce((p, d) => p * d, 1);
  const block = new Float32Array(entries.length * per);
  entries.forEach((e, i) => block.set(e.values[sample].data, i * per));
  return {
    name, length: entries.length, channels: want.channels, height: want.size, width: want.size,
    image(i: number, out: Float32Array, offset: number): void {
      out.set(block.subarray(i * per, (i + 1) * per), offset);
    },
  };
}
