/**
 * Fuzz families for the edges issue 26 attacked: LoRA adapters, .npy files, manifests, run locks
 * and symlinked run folders. Besides the CLI contract (exit 0, or one `error:` line naming the
 * input) each case checks what a careful user cares about, reported as its own outcome:
 *   read-outside       a manifest path out of its folder was read (the case ran with rc 0);
 *   user-file-deleted  a file or folder the user made beside the run is gone;
 *   concurrent-writer  a run started while another writer held the folder (through a link).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng';
import { encodeNpy } from '../../src/data/npy';
import { encodeAdapter, extractLora, insertLora } from '../../src/nn/lora';
import type { Model } from '../../src/onnx/ir';
import { RunDir } from '../../src/train/run-dir';

export type EdgeFamily = 'adapter' | 'npy' | 'manifest' | 'lock' | 'symlink';
export const EDGE_FAMILIES: readonly EdgeFamily[] = ['adapter', 'npy', 'manifest', 'lock', 'symlink'];
export type EdgeOutcome = 'read-outside' | 'user-file-deleted' | 'concurrent-writer';

export interface EdgeCase {
  mutation: string;
  args: string[];
  names: string[];
  /** Runs just before the CLI call (in the same process). */
  before?: () => void;
  /** Runs after it: a broken promise, given the exit code, or undefined. */
  after?: (code: number) => EdgeOutcome | undefined;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)];

function safetensors(header: unknown, data: Uint8Array = new Uint8Array(16)): Uint8Array {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const b = Buffer.alloc(8 + h.length + data.length);
  b.writeBigUInt64LE(BigInt(h.length), 0);
  h.copy(b, 8);
  b.set(data, 8 + h.length);
  return b;
}

/** A version-1 .npy file with `header` taken as given (any text, well-formed or not) and `data`. */
export function npyWithHeader(header: string, data: Uint8Array): Uint8Array {
  const b = Buffer.alloc(10 + header.length + data.length);
  b.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  b.writeUInt16LE(header.length, 8);
  b.write(header, 10, 'latin1');
  b.set(data, 10 + header.length);
  return b;
}

/** A hostile special file at `p`: a FIFO, a folder, or a link to /dev/zero or to nothing. */
function special(rng: Rng, p: string): string {
  const kind = pick(rng, ['fifo', 'dir', 'devzero', 'dangling'] as const);
  if (kind === 'fifo') execFileSync('mkfifo', [p]);
  else if (kind === 'dir') mkdirSync(p);
  else symlinkSync(kind === 'devzero' ? '/dev/zero' : join(p, '..', 'nowhere'), p);
  return kind;
}

let adapterCache: Uint8Array | undefined;
function goodAdapter(model: Model): Uint8Array {
  adapterCache ??= encodeAdapter(extractLora(insertLora(model, { rank: 2 })).adapter);
  return adapterCache;
}

/** Edits of an adapter's safetensors header (JSON) or bytes. */
function mutateAdapter(rng: Rng, good: Uint8Array): { bytes: Uint8Array; how: string } {
  const n = Number(Buffer.from(good).readBigUInt64LE(0));
  const header = JSON.parse(Buffer.from(good.subarray(8, 8 + n)).toString('utf8')) as Record<string, Record<string, unknown>>;
  const data = good.subarray(8 + n);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const how = pick(rng, ['null', 'entry-null', 'shape-5', 'shape-negative', 'offsets-reversed', 'offsets-past-end', 'meta-5', 'spec-json',
    'spec-rank', 'alpha', 'nan-values', 'dup-target', 'truncate', 'flip', 'size-huge'] as const);
  const meta = header.__metadata__ as Record<string, string>;
  const spec = () => JSON.parse(meta.onnx_diffusion_lora) as Record<string, unknown> & { targets: unknown[] };
  const name = pick(rng, names);
  switch (how) {
    case 'null': return { bytes: safetensors('null', data), how };
    case 'entry-null': header[name] = null as never; break;
    case 'shape-5': header[name].shape = 5; break;
    case 'shape-negative': header[name].shape = [-2, 8]; break;
    case 'offsets-reversed': header[name].data_offsets = [(header[name].data_offsets as number[])[1], 0]; break;
    case 'offsets-past-end': header[name].data_offsets = [0, 1e12]; break;
    case 'meta-5': header.__metadata__ = 5 as never; break;
    case 'spec-json': meta.onnx_diffusion_lora = '{"rank": '; break;
    case 'spec-rank': meta.onnx_diffusion_lora = JSON.stringify({ ...spec(), rank: pick(rng, [0, -1, 1e9, 2.5, 'x']) }); break;
    case 'alpha': meta.onnx_diffusion_lora = JSON.stringify({ ...spec(), alpha: pick(rng, [1e308, -8, 0, 'x', null]) }); break;
    case 'dup-target': {
      const s = spec();
      meta.onnx_diffusion_lora = JSON.stringify({ ...s, targets: Array.from({ length: 200 }, () => s.targets[0]) });
      break;
    }
    case 'nan-values': {
      const d = Uint8Array.from(data);
      const [b] = header[name].data_offsets as number[];
      new DataView(d.buffer).setFloat32(b, pick(rng, [NaN, Infinity, -Infinity]), true);
      return { bytes: safetensors(header, d), how };
    }
    case 'truncate': return { bytes: good.subarray(0, rng.int(0, good.length - 1)), how };
    case 'flip': {
      const b = Uint8Array.from(good);
      for (let k = rng.int(1, 8); k > 0; k--) b[rng.int(0, b.length - 1)] ^= 1 << rng.int(0, 7);
      return { bytes: b, how };
    }
    case 'size-huge': {
      const b = Buffer.from(good);
      b.writeBigUInt64LE(2n ** 62n, 0);
      return { bytes: b, how };
    }
  }
  return { bytes: safetensors(header, data), how };
}

const NPY_HEADERS = [
  "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 16), }",
  "{'note': \"'descr': '<f4'\", 'descr': '<f8', 'fortran_order': False, 'shape': (4, 16), }",
  "{'descr': '<f4', 'fortran_order': False, 'shape': 5}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (4, -16)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999)}",
  "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 16)}",
  "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4, 16)}",
  "{'descr': '<c8', 'fortran_order': False, 'shape': (4, 16)}",
  "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 16)",
  "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4, 16)}",
  `${'('.repeat(200)}`,
  "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 16)}",
  "{'descr': '<i8', 'fortran_order': False, 'shape': (4, 16)}",
  "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 4, 16)}",
];

/** One .npy for the text-conditioned fixture's encoder_hidden_states [N, 4, 16]: valid, mutated or special. */
function hostileNpy(rng: Rng, file: string): string {
  const r = rng.uniform();
  if (r < 0.15) return `special-${special(rng, file)}`;
  const data = new Uint8Array(Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)).buffer);
  const header = pick(rng, NPY_HEADERS);
  let bytes = npyWithHeader(header, data);
  let how = `header ${header.slice(0, 48)}`;
  if (r > 0.85) {
    bytes = Uint8Array.from(bytes);
    for (let k = rng.int(1, 6); k > 0; k--) bytes[rng.int(0, bytes.length - 1)] ^= 1 << rng.int(0, 7);
    how = 'flipped';
  }
  writeFileSync(file, bytes);
  return how;
}

/** Files a user made beside `dir` with names like a program's leftovers; the case fails if any is gone. */
function plantUserFiles(dir: string, parent: string): () => EdgeOutcome | undefined {
  const files = [`${dir}.backup.old-20240101/f`, `${dir}.csv.tmp-31337`, `${dir}.log.stale-4000000`, `${dir}.tmp-999999/f`,
    `${dir}.old-4000000`, `${dir}.lock.tmp-31337`];
  for (const f of files) {
    mkdirSync(join(f, '..'), { recursive: true });
    writeFileSync(f, 'mine');
  }
  const notes = join(parent, 'notes.txt');
  writeFileSync(notes, 'mine');
  return () => ([...files, notes].every((f) => existsSync(f)) ? undefined : 'user-file-deleted');
}

export function makeEdgeCase(family: EdgeFamily, rng: Rng, dir: string, seedsDir: string, model: Model, repoRoot: string): EdgeCase {
  const tiny = join(seedsDir, 'tiny.json');
  const good = join(seedsDir, 'good.onnx');
  const textModel = join(repoRoot, 'test/fixtures/torch-textcond-16px.onnx');
  const textConfig = join(repoRoot, 'test/fixtures/torch-textcond-16px.json');
  const trainQuick = ['--steps', '1', '--batch', '2', '--threads', '1', '--sample-every', '0'];
  if (family === 'adapter') {
    const file = join(dir, 'adapter.safetensors');
    let how: string;
    if (rng.uniform() < 0.2) how = `special-${special(rng, file)}`;
    else {
      const m = mutateAdapter(rng, goodAdapter(model));
      writeFileSync(file, m.bytes);
      how = m.how;
    }
    const cmd = pick(rng, ['export', 'sample'] as const);
    const args = cmd === 'export' ? ['export', '--model', good, '--lora', file, '--merge', '--out', join(dir, 'merged.onnx')]
      : ['sample', '--model', good, '--lora', file, '--n', '1', '--steps', '1', '--threads', '1', '--out', join(dir, 'x.png')];
    return { mutation: `${cmd} --lora ${how}`, args, names: [file] };
  }
  if (family === 'npy') {
    const file = join(dir, 'emb.npy');
    const how = hostileNpy(rng, file);
    const args = ['sample', '--model', textModel, '--config', textConfig, '--n', '1', '--steps', '1', '--threads', '1',
      '--input', `encoder_hidden_states=${file}`, '--out', join(dir, 'x.png')];
    return { mutation: `sample --input ${how}`, args, names: [file, 'encoder_hidden_states'] };
  }
  if (family === 'manifest') {
    const data = join(dir, 'data');
    const outside = join(dir, 'outside');
    mkdirSync(data, { recursive: true });
    mkdirSync(outside, { recursive: true });
    const emb = encodeNpy({ dtype: 'float32', shape: [2, 4, 16], data: new Float32Array(128) });
    writeFileSync(join(data, 'emb.npy'), emb);
    writeFileSync(join(outside, 'secret.npy'), emb);
    execFileSync('cp', [join(seedsDir, 'a.png'), join(data, 'a.png')]);
    execFileSync('cp', [join(seedsDir, 'a.png'), join(outside, 'secret.png')]);
    symlinkSync(join(outside, 'secret.npy'), join(data, 'link.npy'));
    symlinkSync(join(outside, 'secret.png'), join(data, 'link.png'));
    const escapes = ['../outside/secret.npy', join(outside, 'secret.npy'), 'link.npy', './../outside/secret.npy', `sub/../../outside/secret.npy`];
    const imageEscapes = ['../outside/secret.png', join(outside, 'secret.png'), 'link.png', '../../../../../../etc/passwd'];
    const how = pick(rng, ['npy-escape', 'image-escape', 'huge-value', 'wrong-type', 'missing-key', 'fifo-manifest', 'devzero-manifest', 'row-out-of-range',
      'not-json', 'fifo-npy', 'good'] as const);
    let lines: unknown[] = [{ image: 'a.png', c: 'emb.npy#0' }, { image: 'a.png', c: 'emb.npy#1' }];
    let escaped = false;
    if (how === 'npy-escape') {
      lines[1] = { image: 'a.png', c: `${pick(rng, escapes)}#1` };
      escaped = true;
    } else if (how === 'image-escape') {
      lines[0] = { image: pick(rng, imageEscapes), c: 'emb.npy#0' };
      escaped = true;
    } else if (how === 'huge-value') lines[0] = { image: 'a.png', c: 'x'.repeat(rng.int(1, 2) * 1_000_000) };
    else if (how === 'wrong-type') lines[1] = { image: pick(rng, [5, null, ['a.png']]), c: pick(rng, [{}, true, [[1]], null]) };
    else if (how === 'missing-key') lines[1] = { image: 'a.png' };
    else if (how === 'row-out-of-range') lines[1] = { image: 'a.png', c: `emb.npy#${pick(rng, ['2', '99999999999999999999', '-1'])}` };
    else if (how === 'fifo-npy') {
      execFileSync('mkfifo', [join(data, 'pipe.npy')]);
      lines[1] = { image: 'a.png', c: 'pipe.npy#0' };
    }
    const mf = join(data, 'manifest.jsonl');
    if (how === 'fifo-manifest') execFileSync('mkfifo', [mf]);
    else if (how === 'devzero-manifest') symlinkSync('/dev/zero', mf);
    else writeFileSync(mf, how === 'not-json' ? '{"image": "a.png", "c": \n' : lines.map((l) => JSON.stringify(l)).join('\n'));
    const cmd = pick(rng, ['dataset', 'train'] as const);
    const args = cmd === 'dataset' ? ['dataset', '--data', `manifest:${data}`, '--n', '2', '--size', '16', '--channels', '1', '--out', join(dir, 'grid.png')]
      : ['train', '--init', textModel, '--config', textConfig, '--data', `manifest:${data}`, ...trainQuick, '--out', join(dir, 'run')];
    // The text-conditioned fixture's input is encoder_hidden_states.
    const renamed = (l: unknown) => (typeof l === 'object' && l !== null && 'c' in l ? { ...l, encoder_hidden_states: (l as { c: unknown }).c, c: undefined } : l);
    if (cmd === 'train') lines = lines.map(renamed);
    if (cmd === 'train' && !['fifo-manifest', 'devzero-manifest', 'not-json'].includes(how)) writeFileSync(mf, lines.map((l) => JSON.stringify(l)).join('\n'));
    return {
      mutation: `${cmd} manifest ${how}`, args, names: [data, 'manifest'],
      after: (code) => (escaped && code === 0 ? 'read-outside' : undefined),
    };
  }
  if (family === 'lock') {
    const parent = join(dir, 'p');
    const run = join(parent, 'run');
    mkdirSync(parent, { recursive: true });
    const lock = `${run}.lock`;
    const how = pick(rng, ['devzero', 'fifo', 'dangling', 'dir', 'huge', 'garbage', 'dead-pid', 'other-host', 'live', 'none'] as const);
    if (how === 'devzero') symlinkSync('/dev/zero', lock);
    else if (how === 'fifo') execFileSync('mkfifo', [lock]);
    else if (how === 'dangling') symlinkSync(join(parent, 'nowhere'), lock);
    else if (how === 'dir') mkdirSync(lock);
    else if (how === 'huge') (writeFileSync(lock, '{'), truncateSync(lock, rng.int(1, 200) * 2 ** 20));
    else if (how === 'garbage') writeFileSync(lock, pick(rng, ['', '{', 'null', '{"pid": "x"}', '[1]']));
    else if (how === 'dead-pid') writeFileSync(lock, JSON.stringify({ pid: 4_000_000 - rng.int(0, 1000), host: hostname(), started: 'then' }));
    else if (how === 'other-host') writeFileSync(lock, JSON.stringify({ pid: 1, host: 'elsewhere', started: 'then' }));
    else if (how === 'live') writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: 'now' }));
    const kept = plantUserFiles(run, parent);
    return {
      mutation: `train --out with lock ${how}`, args: ['train', '--recipe', tiny, '--data', 'synthetic:8', ...trainQuick, '--out', run], names: [run, lock],
      after: (code) => kept() ?? (code === 0 && ['live', 'other-host'].includes(how) ? 'concurrent-writer' : undefined),
    };
  }
  // symlink: a run folder reached through a link (to it, or to its parent) while another writer holds it
  const real = join(dir, 'real');
  mkdirSync(real, { recursive: true });
  const how = pick(rng, ['link-to-run', 'link-to-parent', 'dangling-link', 'link-loop', 'link-to-file'] as const);
  let target = join(dir, 'link');
  if (how === 'link-to-run') symlinkSync(real, target);
  else if (how === 'link-to-parent') {
    symlinkSync(dir, join(dir, 'plink'));
    target = join(dir, 'plink', 'real');
  } else if (how === 'dangling-link') symlinkSync(join(dir, 'nowhere'), target);
  else if (how === 'link-loop') {
    symlinkSync(join(dir, 'loop2'), target);
    symlinkSync(target, join(dir, 'loop2'));
  } else {
    writeFileSync(join(dir, 'file'), 'mine');
    symlinkSync(join(dir, 'file'), target);
  }
  const held = rng.uniform() < 0.6 && (how === 'link-to-run' || how === 'link-to-parent');
  let holder: RunDir | undefined;
  const kept = plantUserFiles(real, dir);
  return {
    mutation: `train --out through a ${how}${held ? ' while the real folder is held' : ''}`,
    args: ['train', '--recipe', tiny, '--data', 'synthetic:8', ...trainQuick, '--out', target], names: [target, 'link', 'real'],
    before: () => {
      if (held) holder = RunDir.open(real, 'fresh');
    },
    after: (code) => {
      holder?.close();
      return kept() ?? (held && code === 0 ? 'concurrent-writer' : undefined);
    },
  };
}
