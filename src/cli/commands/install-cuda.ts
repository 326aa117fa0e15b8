import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import type { CommandModule } from 'yargs';
import { DiffusionError, FileFormatError } from '../../core/errors';
import { shippedDoc } from '../../core/node/package-files';
import { CudaReport, cudaProblem, cudaReport } from '../../runtime/cuda';
import { bindingDir, ortNodeVersion, ortVersionIn, PROVIDER_LIBRARIES, ProviderLibrary } from '../../runtime/providers';

interface InstallArgs {
  from: string;
  dest?: string;
  force?: boolean;
}

export interface InstalledLibrary {
  name: ProviderLibrary;
  path: string;
  bytes: number;
  /** The ORT version string found inside, or null (the small shared library carries none). */
  ortVersion: string | null;
}

export interface InstallResult {
  from: string;
  dest: string;
  installed: InstalledLibrary[];
  /** The CUDA check against `dest` after installing: what is still missing. */
  report: CudaReport;
}

/**
 * Copies the two CUDA provider libraries out of FROM (a folder, a .tgz/.tar.gz/.tar, or a
 * .zip/.nupkg) into DEST, refusing files built for another ONNX Runtime version unless `force`.
 * Each file is written to a temporary name in DEST, checked, then renamed into place.
 */
export async function installCudaProviders(from: string, options: { dest?: string; force?: boolean } = {}): Promise<InstallResult> {
  const stat = fs.statSync(from, { throwIfNoEntry: false });
  if (!stat) throw new FileFormatError(from, 'no such file or folder (give an ONNX Runtime GPU archive or a folder holding the provider libraries)');
  const dest = path.resolve(options.dest ?? bindingDir());
  fs.mkdirSync(dest, { recursive: true });
  const tmps = new Map<ProviderLibrary, string>(PROVIDER_LIBRARIES.map((n) => [n, path.join(dest, `.${n}.${process.pid}.tmp`)]));
  try {
    const found = stat.isDirectory() ? fromFolder(from, tmps) : await fromArchive(from, tmps);
    const missing = PROVIDER_LIBRARIES.filter((n) => !found.has(n));
    if (missing.length) throw new DiffusionError(`${from}: no ${missing.join(' or ')} inside (it needs an ONNX Runtime GPU build for Linux x64)`);
    const expected = ortNodeVersion();
    const installed = PROVIDER_LIBRARIES.map((name): InstalledLibrary => {
      const tmp = tmps.get(name)!;
      const ortVersion = ortVersionIn(tmp, expected);
      const required = name === 'libonnxruntime_providers_cuda.so';
      if (!options.force && ortVersion !== expected && (required || ortVersion !== null)) {
        const built = ortVersion ? `is from ONNX Runtime ${ortVersion}` : 'carries no ONNX Runtime version string';
        throw new DiffusionError(`${from}: ${name} ${built}, but onnxruntime-node is ${expected}: use the ${expected} GPU archive, or pass --force to install it anyway`);
      }
      return { name, path: path.join(dest, name), bytes: fs.statSync(tmp).size, ortVersion };
    });
    for (const lib of installed) {
      fs.chmodSync(tmps.get(lib.name)!, 0o755);
      fs.renameSync(tmps.get(lib.name)!, lib.path);
    }
    return { from, dest, installed, report: cudaReport({ bindingDir: dest, versions: false }) };
  } finally {
    for (const tmp of tmps.values()) fs.rmSync(tmp, { force: true });
  }
}

/** Copies the first file of each wanted name found anywhere under `dir` (symlinked files followed). */
function fromFolder(dir: string, tmps: Map<ProviderLibrary, string>): Set<ProviderLibrary> {
  const found = new Set<ProviderLibrary>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (tmps.has(e.name as ProviderLibrary) && !found.has(e.name as ProviderLibrary) && fs.statSync(p).isFile()) {
        fs.copyFileSync(p, tmps.get(e.name as ProviderLibrary)!);
        found.add(e.name as ProviderLibrary);
      }
    }
  };
  walk(dir);
  return found;
}

async function fromArchive(file: string, tmps: Map<ProviderLibrary, string>): Promise<Set<ProviderLibrary>> {
  const head = Buffer.alloc(512);
  const fd = fs.openSync(file, 'r');
  const n = fs.readSync(fd, head, 0, 512, 0);
  fs.closeSync(fd);
  const want = (name: string): string | null => tmps.get(path.posix.basename(name) as ProviderLibrary) ?? null;
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return readTar(file, true, want);
  if (n >= 4 && head.readUInt32LE(0) === 0x04034b50) return readZip(file, want);
  if (n >= 262 && head.toString('latin1', 257, 262) === 'ustar') return readTar(file, false, want);
  throw new FileFormatError(file, 'is not a folder, a .tgz/.tar.gz/.tar or a .zip/.nupkg archive');
}

/**
 * Streams a (gzipped) tar archive, writing each wanted regular file to the path `want` gives for
 * its name. Knows ustar names with prefix, GNU long names ('L') and pax `path` records ('x').
 */
async function readTar(file: string, gzipped: boolean, want: (name: string) => string | null): Promise<Set<ProviderLibrary>> {
  const found = new Set<ProviderLibrary>();
  const source = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  let stream: NodeJS.ReadableStream = source;
  if (gzipped) {
    const gunzip = zlib.createGunzip();
    source.on('error', (e) => gunzip.destroy(e));
    stream = source.pipe(gunzip);
  }
  let pending: Buffer = Buffer.alloc(0);
  let remaining = 0; // data bytes left in the current entry
  let padding = 0; // zero bytes after the data, up to the next 512-byte boundary
  let out: number | null = null; // fd of the file being written
  let meta: Buffer[] | null = null; // data of a 'L' or 'x' entry, collected
  let metaType = '';
  let nextName: string | null = null; // name given by the preceding 'L' / 'x' entry
  let ended = false;
  const endEntry = (): void => {
    if (out !== null) fs.closeSync(out);
    out = null;
    if (meta) {
      const text = Buffer.concat(meta).toString('utf8');
      if (metaType === 'L') nextName = text.replace(/\0.*$/s, '');
      else for (const m of text.matchAll(/\d+ path=([^\n]*)\n/g)) nextName = m[1];
    }
    meta = null;
  };
  try {
    for await (const chunk of stream) {
      if (found.size === PROVIDER_LIBRARIES.length && out === null) ended = true;
      if (ended) break;
      const c: Buffer = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
      pending = Buffer.alloc(0);
      let i = 0;
      while (i < c.length && !ended) {
        if (remaining > 0) {
          const take = Math.min(remaining, c.length - i);
          const part = c.subarray(i, i + take);
          if (out !== null) fs.writeSync(out, part);
          else if (meta) meta.push(Buffer.from(part));
          i += take;
          remaining -= take;
          if (remaining === 0) endEntry();
        } else if (padding > 0) {
          const take = Math.min(padding, c.length - i);
          i += take;
          padding -= take;
        } else if (c.length - i < 512) {
          pending = Buffer.from(c.subarray(i));
          break;
        } else {
          const h = c.subarray(i, i + 512);
          i += 512;
          if (h.every((b) => b === 0)) {
            ended = true;
            break;
          }
          const str = (a: number, b: number) => h.toString('utf8', a, b).replace(/\0.*$/s, '');
          const type = String.fromCharCode(h[156] || 0x30);
          let name = h.toString('latin1', 257, 262) === 'ustar' && str(345, 500) ? `${str(345, 500)}/${str(0, 100)}` : str(0, 100);
          if (nextName !== null && type !== 'L' && type !== 'x') [name, nextName] = [nextName, null];
          const size = tarSize(h.subarray(124, 136));
          remaining = size;
          padding = (512 - (size % 512)) % 512;
          const target = type === '0' || type === '7' ? want(name) : null;
          if (type === 'L' || type === 'x') [meta, metaType] = [[], type];
          else if (target && !found.has(path.posix.basename(name) as ProviderLibrary)) {
            out = fs.openSync(target, 'w');
            found.add(path.posix.basename(name) as ProviderLibrary);
          }
          if (size === 0) endEntry();
        }
      }
    }
  } catch (e) {
    throw new FileFormatError(file, `cannot be read as a ${gzipped ? 'gzipped ' : ''}tar archive: ${(e as Error).message}`);
  } finally {
    if (out !== null) fs.closeSync(out);
    source.destroy();
  }
  if (!ended && remaining > 0) throw new FileFormatError(file, 'is truncated (the archive ends inside a file)');
  return found;
}

/** Sizes are octal text, or base-256 (high bit set) for files over 8 GiB. */
function tarSize(f: Buffer): number {
  if (f[0] & 0x80) return f.subarray(1).reduce((acc, b) => acc * 256 + b, f[0] & 0x7f);
  const text = f.toString('latin1').replace(/[\0 ]+$/g, '').trim();
  return text ? parseInt(text, 8) : 0;
}

/** Reads a zip (.nupkg) through its central directory; zip64 sizes and offsets are understood. */
function readZip(file: string, want: (name: string) => string | null): Set<ProviderLibrary> {
  const found = new Set<ProviderLibrary>();
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const read = (pos: number, len: number): Buffer => {
      const b = Buffer.alloc(len);
      if (fs.readSync(fd, b, 0, len, pos) < len) throw new FileFormatError(file, 'is truncated');
      return b;
    };
    const tailLen = Math.min(size, 0xffff + 22);
    const tail = read(size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0 && eocd < 0; i--) if (tail.readUInt32LE(i) === 0x06054b50) eocd = i;
    if (eocd < 0) throw new FileFormatError(file, 'is not a zip archive (no end of central directory)');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (cdOffset === 0xffffffff && eocd >= 20 && tail.readUInt32LE(eocd - 20) === 0x07064b50) {
      const z = read(Number(tail.readBigUInt64LE(eocd - 20 + 8)), 56);
      [count, cdSize, cdOffset] = [Number(z.readBigUInt64LE(32)), Number(z.readBigUInt64LE(40)), Number(z.readBigUInt64LE(48))];
    }
    const cd = read(cdOffset, cdSize);
    for (let p = 0, k = 0; k < count && p + 46 <= cd.length; k++) {
      if (cd.readUInt32LE(p) !== 0x02014b50) throw new FileFormatError(file, 'has a corrupt zip central directory');
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let csize = cd.readUInt32LE(p + 20);
      let usize = cd.readUInt32LE(p + 24);
      const [nameLen, extraLen, commentLen] = [cd.readUInt16LE(p + 28), cd.readUInt16LE(p + 30), cd.readUInt16LE(p + 32)];
      let local = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // Zip64 extra field (id 1): the 64-bit values of whichever fields read 0xffffffff, in this order.
      for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; e += 4 + cd.readUInt16LE(e + 2)) {
        if (cd.readUInt16LE(e) !== 1) continue;
        let q = e + 4;
        const next = () => Number(cd.readBigUInt64LE((q += 8) - 8));
        if (usize === 0xffffffff) usize = next();
        if (csize === 0xffffffff) csize = next();
        if (local === 0xffffffff) local = next();
      }
      p += 46 + nameLen + extraLen + commentLen;
      const target = want(name);
      const base = path.posix.basename(name) as ProviderLibrary;
      if (!target || found.has(base)) continue;
      const lh = read(local, 30);
      const data = read(local + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28), csize);
      let bytes: Buffer;
      if (method === 0) bytes = data;
      else if (method === 8) bytes = zlib.inflateRawSync(data);
      else throw new FileFormatError(file, `${name} uses zip compression method ${method} (only stored and deflate are read)`);
      const crc32 = (zlib as unknown as { crc32?: (b: Buffer) => number }).crc32;
      if (bytes.length !== usize || (crc32 && crc32(bytes) >>> 0 !== crc)) throw new FileFormatError(file, `${name} is corrupt (size or CRC mismatch)`);
      fs.writeFileSync(target, bytes);
      found.add(base);
    }
  } finally {
    fs.closeSync(fd);
  }
  return found;
}

const size = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);

export function formatInstall(r: InstallResult): string {
  const lines = r.installed.map((l) => `installed ${l.name} (${l.ortVersion ? `ONNX Runtime ${l.ortVersion}, ` : ''}${size(l.bytes)}) -> ${r.dest}`);
  const home = bindingDir();
  if (path.resolve(home) !== r.dest) lines.push(`note: onnxruntime-node loads provider libraries only from ${home}`);
  const missing = r.report.libraries.filter((l) => !l.path);
  if (missing.length) lines.push(`still missing for CUDA: ${missing.map((l) => (l.kind === 'driver' ? `${l.name} (NVIDIA driver)` : l.name)).join(', ')}`);
  else lines.push('CUDA libraries: all found by the dynamic loader');
  const problem = cudaProblem(r.report);
  lines.push(problem ? `next: ${problem.replace(/^CUDA requested but /, '')}` : "next: 'onnx-diffusion doctor' to check that a CUDA session starts");
  return lines.join('\n');
}

export const installCudaCommand: CommandModule<object, InstallArgs> = {
  command: 'install-cuda',
  describe: "Install ONNX Runtime's CUDA provider libraries from a local archive or folder (offline)",
  builder: (y) =>
    y
      .option('from', { type: 'string', demandOption: true, describe: 'Folder, .tgz/.tar.gz/.tar, or .zip/.nupkg holding the provider libraries' })
      .option('dest', { type: 'string', describe: 'Install into DIR instead of next to the onnxruntime-node binding' })
      .option('force', { type: 'boolean', describe: 'Install even when the ONNX Runtime version inside does not match' })
      .epilog(
        `Needs libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so from ONNX Runtime ${ortNodeVersion()} ` +
          `(the onnxruntime-node version installed). The npm package com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 holds them ` +
          `for ONNX Runtime 1.29.0 built against CUDA 13: on a machine with registry access run ` +
          `'npm pack com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9' and pass the .tgz. ONNX Runtime's own ` +
          `onnxruntime-linux-x64-gpu-<version>.tgz release archive or Microsoft.ML.OnnxRuntime.Gpu.Linux .nupkg work too, ` +
          'if built for the CUDA version you have. CUDA libraries (cudart, cublas, cublasLt, curand, cuDNN 9, NVRTC) are ' +
          `not installed by this command: see ${shippedDoc('cuda.md')}.`,
      ),
  handler: async (args) => {
    process.stdout.write(`${formatInstall(await installCudaProviders(args.from, { dest: args.dest, force: args.force }))}\n`);
  },
};
