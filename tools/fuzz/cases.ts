/**
 * Hostile inputs for the CLI, generated from a seed: mutated ONNX files, corrupt IDX, CIFAR, PNG
 * and JPEG files, labels.csv and paired folders, bad recipes and bad flag values. Shared by the
 * fuzz test (test/fuzz/fuzz.test.ts, a few hundred cases) and `npm run fuzz -- --cases N`.
 *
 * Every case is a CLI call. Its contract: exit 0, or exit 1 with one `error:` line that names the
 * input (file path, key or flag); never a native abort, a hang or runaway memory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { Rng } from '../../src/core/rng';
import { buildModel, loadRecipe } from '../../src/nn';
import { encodeModel } from '../../src/onnx/proto';
import type { Model } from '../../src/onnx/ir';
import { EDGE_FAMILIES, EdgeFamily, EdgeOutcome, makeEdgeCase } from './edges';

export type Family = 'onnx' | 'data' | 'recipe' | 'flags' | EdgeFamily;

export interface FuzzCase {
  id: number;
  family: Family;
  /** What was done to the input, for the outcome table. */
  mutation: string;
  args: string[];
  /** Strings of which one must appear in an error line (the input's path, key or flag). */
  names: string[];
  /** Must run in a child process (may abort natively in ONNX Runtime or protobuf). */
  child: boolean;
  /** In-process cases of the edge families: set-up just before, and a check of what the run left (tools/fuzz/edges.ts). */
  before?: () => void;
  after?: (code: number) => EdgeOutcome | undefined;
}

/** Inputs every case starts from, written once per fuzz run. */
export interface Seeds {
  dir: string;
  /** The repository (fixtures the edge families use). */
  repoRoot?: string;
  model: Model;
  modelBytes: Uint8Array;
  png: Buffer;
  jpeg: Buffer;
}

export async function makeSeeds(dir: string, repoRoot: string): Promise<Seeds & { repoRoot: string }> {
  mkdirSync(dir, { recursive: true });
  const model = buildModel(loadRecipe(join(repoRoot, 'graphs/unet-tiny.json')));
  const raw = { raw: { width: 16, height: 16, channels: 3 as const } };
  const px = Buffer.from(Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 37) % 256));
  return {
    dir, model, modelBytes: encodeModel(model), repoRoot,
    png: await sharp(px, raw).png().toBuffer(),
    jpeg: await sharp(px, raw).jpeg().toBuffer(),
  };
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)];

/** Flips 1-8 random bytes, or truncates, or zeroes a run, or appends junk. */
function corrupt(rng: Rng, bytes: Uint8Array, keepHead = 0): { bytes: Uint8Array; how: string } {
  const b = Uint8Array.from(bytes);
  const how = pick(rng, ['flip', 'flip', 'truncate', 'zero-run', 'append', 'header-flip'] as const);
  if (how === 'truncate') return { bytes: b.subarray(0, rng.int(0, Math.max(0, b.length - 1))), how };
  if (how === 'append') return { bytes: Buffer.concat([b, Buffer.from(Array.from({ length: rng.int(1, 64) }, () => rng.int(0, 255)))]), how };
  if (how === 'zero-run') {
    const at = rng.int(keepHead, Math.max(keepHead, b.length - 1));
    b.fill(0, at, Math.min(b.length, at + rng.int(1, 256)));
    return { bytes: b, how };
  }
  const lo = how === 'header-flip' ? 0 : keepHead;
  const hi = how === 'header-flip' ? Math.min(b.length - 1, 32) : b.length - 1;
  for (let k = rng.int(1, 8); k > 0; k--) b[rng.int(lo, Math.max(lo, hi))] ^= 1 << rng.int(0, 7);
  return { bytes: b, how };
}

function cloneModel(m: Model): Model {
  return { ...m, metadata: { ...m.metadata }, graph: m.graph.clone() };
}

/** A structurally valid model with one semantic fault. */
function mutateModel(rng: Rng, base: Model): { model?: Model; bytes?: Uint8Array; how: string } {
  const m = cloneModel(base);
  const meta = () => JSON.parse(m.metadata['onnx-diffusion']) as Record<string, unknown> & { conditioning: Record<string, unknown>; image: Record<string, unknown>; recipe: Record<string, unknown> & { unet: Record<string, unknown> } };
  const setMeta = (o: unknown) => (m.metadata['onnx-diffusion'] = JSON.stringify(o));
  const how = pick(rng, ['missing-initializer', 'unknown-op', 'rewired-input', 'meta-format', 'meta-classes', 'meta-json', 'meta-size', 'meta-recipe-base', 'meta-channels', 'meta-removed', 'dropped-node', 'bytes'] as const);
  switch (how) {
    case 'missing-initializer': {
      const keys = [...m.graph.initializers.keys()];
      m.graph.initializers.delete(pick(rng, keys));
      break;
    }
    case 'unknown-op':
      pick(rng, m.graph.nodes).opType = pick(rng, ['Frobnicate', 'MatMulInteger16', 'Loop', 'If', 'Scan']);
      break;
    case 'rewired-input': {
      const n = pick(rng, m.graph.nodes);
      if (n.inputs.length > 0) n.inputs[rng.int(0, n.inputs.length - 1)] = pick(rng, ['', 'nowhere', 'x', 't']);
      break;
    }
    case 'dropped-node':
      m.graph.nodes.splice(rng.int(0, m.graph.nodes.length - 1), 1);
      break;
    case 'meta-format': setMeta({ ...meta(), format: 'onnx-diffusion/99' }); break;
    case 'meta-classes': { const c = meta(); c.conditioning = { classes: pick(rng, [10, 1e7, -1, 0.5]) }; setMeta(c); break; }
    case 'meta-json': m.metadata['onnx-diffusion'] = m.metadata['onnx-diffusion'].slice(0, rng.int(0, 40)); break;
    case 'meta-size': { const c = meta(); c.image.size = pick(rng, [0, 17, 1e6, 'x']); setMeta(c); break; }
    case 'meta-channels': { const c = meta(); c.image.channels = pick(rng, [3, 1e6, 0]); setMeta(c); break; }
    case 'meta-recipe-base': { const c = meta(); c.recipe.unet.base = pick(rng, [1e9, 4096, 0, 'x']); setMeta(c); break; }
    case 'meta-removed': delete m.metadata['onnx-diffusion']; break;
    case 'bytes': return { how: 'bytes' };
  }
  return { model: m, how };
}

const BAD_RECIPE_EDITS: [string, string, unknown][] = [
  ['unet.base', 'unet.base', 1e9], ['unet.base', 'unet.base', 4096], ['unet.base', 'unet.base', 0], ['unet.base', 'unet.base', -16],
  ['image.channels', 'image.channels', 1e6], ['image.size', 'image.size', 1e5], ['image.size', 'image.size', 15],
  ['conditioning.classes', 'conditioning.classes', 1e7], ['conditioning.classes', 'conditioning.classes', 'ten'],
  ['unet.mults', 'unet.mults', []], ['unet.mults', 'unet.mults', [1, 2, 3, 4, 5, 6, 7, 8]], ['unet.heads', 'unet.heads', 0],
  ['unet.groups', 'unet.groups', 7], ['unet.resBlocks', 'unet.resBlocks', 1e6], ['diffusion.timesteps', 'diffusion.timesteps', 0],
  ['diffusion.schedule', 'diffusion.schedule', 'quadratic'], ['unet.attention', 'unet.attention', [3]], ['bogus', 'bogus', 1],
  ['unet.dropout', 'unet.dropout', 2], ['seed', 'seed', 'abc'], ['diffusion.prediction', 'diffusion.prediction', 'z'],
];

const BAD_FLAGS: [string, string[]][] = [
  ['--steps', ['0', '-1', '2.5', 'abc']], ['--batch', ['0', '1000000000', '2.5', '-3', '100']], ['--seed', ['abc', '-1', '0.5', '1e20']],
  ['--lr', ['0', '-1', 'abc']], ['--t-range', ['-1:5', '5:1', '0:99999', 'a:b']], ['--ema-decay', ['1', '-0.1']],
  ['--threads', ['0', '-2']], ['--save-every', ['0']], ['--sample-n', ['0']], ['--cond-dropout', ['1', '2']],
  ['--config', ['missing.json']], ['--warmup', ['-1']], ['--data', ['nope:x', 'idx:', 'folder:', 'synthetic:-3', 'synthetic:abc', 'cifar10:/nonexistent']],
  ['--recipe', ['/dev/zero', '/nonexistent.json']], ['--init', ['/dev/zero']], ['--resume', ['/nonexistent-run']],
];
const BAD_SAMPLE_FLAGS: [string, string[]][] = [
  ['--n', ['0', '100000', '-1', '2.5']], ['--seed', ['abc', '-1', '0.5']], ['--steps', ['0', '-2']], ['--batch', ['0']],
  ['--model', ['/dev/zero', '/nonexistent.onnx']], ['--out', ['x.bmp']], ['--guidance', ['abc']], ['--eta', ['abc']],
];

function idxBytes(magic: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d >>> 0, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

/** A PNG whose IHDR claims w x h (CRC kept valid), for decompression-bomb style cases. */
function pngClaiming(w: number, h: number): Buffer {
  const sig = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

function crc32(b: Buffer): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** Case `id` of the stream for `seed`; files it needs are written under seeds.dir/case-<id>. */
export function makeCase(seeds: Seeds, seed: number, id: number): FuzzCase {
  const rng = new Rng(seed * 1_000_003 + id);
  const dir = join(seeds.dir, `case-${id}`);
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'out');
  const family = pick(rng, ['onnx', 'onnx', 'data', 'data', 'recipe', 'flags', ...EDGE_FAMILIES] as const);
  if ((EDGE_FAMILIES as readonly string[]).includes(family)) {
    const e = makeEdgeCase(family as EdgeFamily, rng, dir, seeds.dir, seeds.model, seeds.repoRoot ?? process.cwd());
    return { id, family, child: false, ...e };
  }
  const trainQuick = ['--steps', '1', '--batch', '2', '--threads', '1', '--sample-every', '0'];
  if (family === 'onnx') {
    const file = join(dir, 'model.onnx');
    const mut = mutateModel(rng, seeds.model);
    let how = mut.how;
    if (mut.model) writeFileSync(file, encodeModel(mut.model));
    else {
      const c = corrupt(rng, seeds.modelBytes);
      how = `bytes-${c.how}`;
      writeFileSync(file, c.bytes);
    }
    const cmd = pick(rng, ['inspect', 'sample', 'train', 'forward'] as const);
    const args = cmd === 'inspect' ? ['inspect', file, '--json']
      : cmd === 'sample' ? ['sample', '--model', file, '--n', '2', '--steps', '2', '--threads', '1', '--out', join(dir, 'x.png')]
        : cmd === 'forward' ? ['inspect', file]
          : ['train', '--init', file, '--data', 'synthetic:8', ...trainQuick, '--out', out];
    return { id, family, mutation: `${cmd} ${how}`, args, names: [file], child: true };
  }
  if (family === 'data') {
    const kind = pick(rng, ['idx', 'idx', 'cifar', 'png', 'jpeg', 'labels', 'paired'] as const);
    let spec: string;
    let names: string[];
    let how: string = kind;
    if (kind === 'idx') {
      const n = 4;
      const good = idxBytes(0x803, [n, 28, 28], Uint8Array.from({ length: n * 784 }, (_, i) => i % 251));
      const variant = pick(rng, ['corrupt', 'zero-dims', 'huge-dims', 'gzip-corrupt', 'labels-mismatch'] as const);
      how = `idx ${variant}`;
      const images = join(dir, 'train-images-idx3-ubyte');
      let bytes: Uint8Array = good;
      if (variant === 'corrupt') bytes = corrupt(rng, good).bytes;
      if (variant === 'zero-dims') bytes = idxBytes(0x803, [n, 0, 0], new Uint8Array(0));
      if (variant === 'huge-dims') bytes = idxBytes(0x803, [0xffffffff, 0xffff, 0xffff], new Uint8Array(16));
      if (variant === 'gzip-corrupt') bytes = corrupt(rng, gzipSync(good), 10).bytes;
      writeFileSync(images + (variant === 'gzip-corrupt' ? '.gz' : ''), bytes);
      if (variant === 'labels-mismatch') writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idxBytes(0x801, [n + 3], new Uint8Array(n + 3)));
      spec = `idx:${dir}`;
      names = [dir];
    } else if (kind === 'cifar') {
      const rec = Buffer.alloc(3073 * 2);
      writeFileSync(join(dir, 'data_batch_1.bin'), corrupt(rng, rec).bytes);
      spec = `cifar10:${dir}`;
      names = [dir];
    } else if (kind === 'png' || kind === 'jpeg') {
      const src = kind === 'png' ? seeds.png : seeds.jpeg;
      const variant = pick(rng, ['corrupt', 'corrupt', 'empty', 'claims-huge', 'not-an-image'] as const);
      how = `${kind} ${variant}`;
      const bytes = variant === 'corrupt' ? corrupt(rng, src, 8).bytes : variant === 'empty' ? new Uint8Array(0) : variant === 'claims-huge' ? pngClaiming(1 << 20, 1 << 20) : Buffer.from('hello');
      writeFileSync(join(dir, `a.${kind === 'png' ? 'png' : 'jpg'}`), bytes);
      writeFileSync(join(dir, `b.${kind === 'png' ? 'png' : 'jpg'}`), src);
      spec = `folder:${dir}`;
      names = [dir];
    } else if (kind === 'labels') {
      writeFileSync(join(dir, 'a.png'), seeds.png);
      writeFileSync(join(dir, 'b.png'), seeds.png);
      const csv = pick(rng, ['file,labels\na.png,1;2\n', 'a.png,cat\nb.png,dog\nzzz.png,cat\n', '\u0000\u0001binary', 'file\n', 'a.png,' + 'x;'.repeat(5000) + '\n', 'a.png\nb.png,1,2,3,4\n']);
      how = `labels ${JSON.stringify(csv.slice(0, 12))}`;
      writeFileSync(join(dir, 'labels.csv'), csv);
      spec = `folder:${dir}`;
      names = [dir];
    } else {
      const variant = pick(rng, ['missing-cond', 'size-mismatch', 'corrupt-cond', 'empty'] as const);
      how = `paired ${variant}`;
      mkdirSync(join(dir, 'target'));
      mkdirSync(join(dir, 'cond'));
      if (variant !== 'empty') writeFileSync(join(dir, 'target', 'a.png'), seeds.png);
      if (variant === 'size-mismatch') writeFileSync(join(dir, 'cond', 'a.png'), pngClaiming(3, 5));
      if (variant === 'corrupt-cond') writeFileSync(join(dir, 'cond', 'a.png'), corrupt(rng, seeds.png, 8).bytes);
      spec = `paired:${dir}`;
      names = [dir];
    }
    return { id, family, mutation: `dataset ${how}`, args: ['dataset', '--data', spec, '--n', '4', '--size', '16', '--channels', '1', '--out', join(dir, 'grid.png')], names, child: false };
  }
  if (family === 'recipe') {
    const [name, key, value] = pick(rng, BAD_RECIPE_EDITS);
    const recipe = JSON.parse(JSON.stringify(loadRecipeJson(seeds))) as Record<string, Record<string, unknown>>;
    const [a, b] = key.split('.');
    if (b === undefined) (recipe as Record<string, unknown>)[a] = value;
    else recipe[a] = { ...(recipe[a] ?? {}), [b]: value };
    const file = join(dir, 'recipe.json');
    const text = rng.uniform() < 0.1 ? JSON.stringify(recipe).slice(0, rng.int(0, 60)) : JSON.stringify(recipe);
    writeFileSync(file, text);
    const cmd = pick(rng, ['build-graph', 'train'] as const);
    const args = cmd === 'build-graph' ? ['build-graph', '--recipe', file, '--out', out] : ['train', '--recipe', file, '--data', 'synthetic:8', ...trainQuick, '--out', out];
    return { id, family, mutation: `${cmd} ${name}=${JSON.stringify(value)}`, args, names: [file, name.split('.').pop()!], child: false };
  }
  if (rng.uniform() < 0.3) {
    const [flag, values] = pick(rng, BAD_SAMPLE_FLAGS);
    const value = pick(rng, values);
    const model = join(seeds.dir, 'good.onnx');
    const args = ['sample', '--model', model, '--n', '2', '--steps', '2', '--threads', '1', '--out', join(dir, 'x.png')];
    const at = args.indexOf(flag);
    if (at >= 0) args[at + 1] = value;
    else args.push(flag, value);
    return { id, family, mutation: `sample ${flag} ${value}`, args, names: [flag.slice(2), value], child: false };
  }
  const [flag, values] = pick(rng, BAD_FLAGS);
  const value = pick(rng, values);
  const base = ['train', '--recipe', join(seeds.dir, 'tiny.json'), '--data', 'synthetic:8', ...trainQuick, '--out', out];
  const args = flag === '--init' || flag === '--resume' ? ['train', flag, value, '--data', 'synthetic:8', ...trainQuick, ...(flag === '--init' ? ['--out', out] : [])] : [...base];
  if (flag !== '--init' && flag !== '--resume') {
    const at = args.indexOf(flag);
    if (at >= 0) args[at + 1] = value;
    else args.push(flag, value);
  }
  return { id, family, mutation: `train ${flag} ${value}`, args, names: [flag.slice(2), value], child: false };
}

let recipeCache: unknown;
function loadRecipeJson(seeds: Seeds): unknown {
  recipeCache ??= JSON.parse(seeds.model.metadata['onnx-diffusion']).recipe;
  return recipeCache;
}

/** Files the flag cases refer to: a good tiny recipe and model. */
export function writeShared(seeds: Seeds): void {
  writeFileSync(join(seeds.dir, 'tiny.json'), JSON.stringify(loadRecipeJson(seeds)));
  writeFileSync(join(seeds.dir, 'good.onnx'), seeds.modelBytes);
  writeFileSync(join(seeds.dir, 'a.png'), seeds.png);
}

export type Outcome = 'ok' | 'clean-error' | 'error-naming-nothing' | 'multi-line-error' | 'stack-trace' | 'native-abort' | 'timeout' | 'bad-exit' | 'internal-error' | EdgeOutcome;

/** Classifies one run against the contract. */
export function classify(c: FuzzCase, r: { code: number | null; signal: string | null; stderr: string; timedOut: boolean }): Outcome {
  if (r.timedOut) return 'timeout';
  if (r.signal !== null || (r.code !== null && r.code > 1)) return 'native-abort';
  if (r.code === 0) return 'ok';
  if (r.code !== 1) return 'bad-exit';
  if (/\n\s+at /.test(r.stderr)) return 'stack-trace';
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
  if (lines.length !== 1) return 'multi-line-error';
  // A raw JS error (TypeError, RangeError, ...) that reached the user: the CLI calls it internal.
  if (lines[0].startsWith('error: internal error:')) return 'internal-error';
  // Progress lines may precede the error; nothing but the error may follow it.
  const after = r.stderr.slice(r.stderr.indexOf('error:')).trim().split('\n');
  if (after.length !== 1) return 'multi-line-error';
  return c.names.some((n) => lines[0].includes(n)) ? 'clean-error' : 'error-naming-nothing';
}
