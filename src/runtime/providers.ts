import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FileFormatError } from '../core/errors';

/**
 * Where onnxruntime-node's native code lives and what shared libraries need: a small ELF64 reader
 * (DT_NEEDED, DT_RUNPATH, sections), the ONNX Runtime version string inside a library, and a
 * lookup that mimics the dynamic loader's search order. Linux x86-64 is what it is written for.
 */

/** The two libraries that make up ONNX Runtime's CUDA execution provider, in the order we check them. */
export const PROVIDER_LIBRARIES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'] as const;
export type ProviderLibrary = (typeof PROVIDER_LIBRARIES)[number];

/** The folder holding onnxruntime_binding.node; ORT loads provider libraries from here only. */
export function bindingDir(): string {
  const main = require.resolve('onnxruntime-node');
  return path.join(path.dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/** The version in the package.json of an installed package, or null when it is not installed. */
export function packageVersion(name: string): string | null {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(name));
  } catch {
    return null;
  }
  return findPackageJson(dir, name)?.version ?? null;
}

/** Walks up from `dir` to the package.json whose name is `name`. */
export function findPackageJson(dir: string, name: string): { dir: string; version: string } | null {
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name) return { dir, version: pkg.version ?? 'unknown' };
      } catch {
        // a broken package.json on the way up is not ours; keep climbing
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** The ONNX Runtime version provider libraries must match: the installed onnxruntime-node's. */
export function ortNodeVersion(): string {
  return packageVersion('onnxruntime-node') ?? 'unknown';
}

// ---- ELF64 -------------------------------------------------------------------------------------

/** What the dynamic section of a shared library says about loading it. */
export interface ElfDynamic {
  /** DT_NEEDED entries in file order: the libraries the loader must find. */
  needed: string[];
  soname: string | null;
  /** DT_RUNPATH (or DT_RPATH) folders, `$ORIGIN` left as written. */
  runpath: string[];
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT = { NULL: 0, NEEDED: 1, STRTAB: 5, STRSZ: 10, SONAME: 14, RPATH: 15, RUNPATH: 29 };

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const n = fs.readSync(fd, b, 0, len, pos);
  return b.subarray(0, n);
}

function withElf<T>(file: string, fn: (fd: number, h: Buffer) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new FileFormatError(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
  }
  try {
    const h = readAt(fd, 0, 64);
    if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46) throw new FileFormatError(file, 'is not an ELF file');
    if (h[4] !== 2 || h[5] !== 1) throw new FileFormatError(file, 'is not a 64-bit little-endian ELF file');
    return fn(fd, h);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads DT_NEEDED / DT_SONAME / DT_RUNPATH from the PT_DYNAMIC segment (empty for static files). */
export function readElfDynamic(file: string): ElfDynamic {
  return withElf(file, (fd, h) => {
    const phoff = Number(h.readBigUInt64LE(0x20));
    const phentsize = h.readUInt16LE(0x36);
    const phnum = h.readUInt16LE(0x38);
    const ph = readAt(fd, phoff, phentsize * phnum);
    const loads: { offset: number; vaddr: number; filesz: number }[] = [];
    let dynamic: { offset: number; filesz: number } | null = null;
    for (let i = 0; i + phentsize <= ph.length; i += phentsize) {
      const type = ph.readUInt32LE(i);
      const seg = { offset: Number(ph.readBigUInt64LE(i + 8)), vaddr: Number(ph.readBigUInt64LE(i + 16)), filesz: Number(ph.readBigUInt64LE(i + 32)) };
      if (type === PT_LOAD) loads.push(seg);
      else if (type === PT_DYNAMIC) dynamic = seg;
    }
    if (!dynamic) return { needed: [], soname: null, runpath: [] };
    const d = readAt(fd, dynamic.offset, dynamic.filesz);
    const entries: [number, number][] = [];
    let strtab = -1;
    let strsz = 0;
    for (let i = 0; i + 16 <= d.length; i += 16) {
      const tag = Number(d.readBigInt64LE(i));
      const val = Number(d.readBigUInt64LE(i + 8));
      if (tag === DT.NULL) break;
      if (tag === DT.STRTAB) strtab = val;
      else if (tag === DT.STRSZ) strsz = val;
      else entries.push([tag, val]);
    }
    // DT_STRTAB holds a virtual address; the PT_LOAD segment containing it maps it to a file offset.
    const seg = loads.find((s) => strtab >= s.vaddr && strtab < s.vaddr + s.filesz);
    if (!seg || strsz <= 0) throw new FileFormatError(file, 'has a dynamic section without a string table');
    const strs = readAt(fd, strtab - seg.vaddr + seg.offset, strsz);
    const str = (off: number): string => strs.toString('latin1', off, Math.max(off, strs.indexOf(0, off)));
    const out: ElfDynamic = { needed: [], soname: null, runpath: [] };
    for (const [tag, val] of entries) {
      if (tag === DT.NEEDED) out.needed.push(str(val));
      else if (tag === DT.SONAME) out.soname = str(val);
      else if (tag === DT.RUNPATH || (tag === DT.RPATH && out.runpath.length === 0)) out.runpath = str(val).split(':').filter(Boolean);
    }
    return out;
  });
}

/** File offset and size of a named section, or null when the file has no such section. */
export function elfSection(file: string, name: string): { offset: number; size: number } | null {
  return withElf(file, (fd, h) => {
    const shoff = Number(h.readBigUInt64LE(0x28));
    const shentsize = h.readUInt16LE(0x3a);
    const shnum = h.readUInt16LE(0x3c);
    const shstrndx = h.readUInt16LE(0x3e);
    if (shoff === 0 || shnum === 0 || shstrndx >= shnum) return null;
    const sh = readAt(fd, shoff, shentsize * shnum);
    const at = (i: number) => ({
      name: sh.readUInt32LE(i * shentsize),
      offset: Number(sh.readBigUInt64LE(i * shentsize + 0x18)),
      size: Number(sh.readBigUInt64LE(i * shentsize + 0x20)),
    });
    const names = at(shstrndx);
    const strs = readAt(fd, names.offset, names.size);
    for (let i = 0; i < shnum && (i + 1) * shentsize <= sh.length; i++) {
      const s = at(i);
      if (strs.toString('latin1', s.name, strs.indexOf(0, s.name)) === name) return { offset: s.offset, size: s.size };
    }
    return null;
  });
}

// ---- ONNX Runtime version inside a library ------------------------------------------------------

const VERSION_RE = /(?<=\0)(\d{1,3}\.\d{1,3}\.\d{1,3})(?=\0)/g;
const CHUNK = 8 << 20;

/**
 * Every NUL-terminated `major.minor.patch` string in the library's `.rodata` (the whole file when
 * it is not ELF or has no `.rodata`). ORT's CUDA provider keeps its ORT_VERSION there ("1.29.0"),
 * next to versions of bundled code; a 230 MB provider has a ~26 MB `.rodata`, read in chunks.
 */
export function versionStrings(file: string): string[] {
  const found = new Set<string>();
  scanRodata(file, (text) => {
    for (const m of text.toString('latin1').matchAll(VERSION_RE)) found.add(m[1]);
    return false;
  });
  return [...found];
}

/** Calls `visit` on overlapping chunks of `.rodata` (or the whole file) until it returns true. */
function scanRodata(file: string, visit: (chunk: Buffer) => boolean): boolean {
  let region: { offset: number; size: number };
  try {
    region = elfSection(file, '.rodata') ?? { offset: 0, size: fs.statSync(file).size };
  } catch (e) {
    if (!(e instanceof FileFormatError) || !fs.existsSync(file)) throw e;
    region = { offset: 0, size: fs.statSync(file).size };
  }
  const end = region.offset + region.size;
  const fd = fs.openSync(file, 'r');
  try {
    // Chunks overlap by 16 bytes so a string split across a boundary is still seen whole.
    for (let pos = region.offset; pos < end; pos += CHUNK - 16) {
      if (visit(readAt(fd, pos, Math.min(CHUNK, end - pos)))) return true;
      if (pos + CHUNK >= end) break;
    }
  } finally {
    fs.closeSync(fd);
  }
  return false;
}

/**
 * The ONNX Runtime version a library was built from: `expected` when that string is inside it,
 * else the first string that looks like an ORT release (1.10.0 and later), else null.
 */
export function ortVersionIn(file: string, expected: string = ortNodeVersion()): string | null {
  const needle = Buffer.from(`\0${expected}\0`, 'latin1');
  if (scanRodata(file, (chunk) => chunk.includes(needle))) return expected;
  return versionStrings(file).find((v) => /^1\.[1-9]\d\.\d+$/.test(v)) ?? null;
}

// ---- the dynamic loader's view -------------------------------------------------------------------

/** How the loader would find a library, or where it lies unseen by the loader. */
export interface LibraryLookup {
  name: string;
  /** Path the loader would open; null when it would fail. */
  path: string | null;
  via: 'LD_LIBRARY_PATH' | 'RUNPATH' | 'ld.so.cache' | 'system dir' | null;
  /** When not found: files of the same library under another version or in a folder the loader skips. */
  elsewhere: string[];
}

/** Folders the glibc loader searches after LD_LIBRARY_PATH and the cache (x86-64, Debian multiarch included). */
export const SYSTEM_LIBRARY_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
/** Where CUDA usually lives without being on the loader's path: searched only to give a better hint. */
export const CUDA_HINT_DIRS = ['/usr/local/cuda/lib64', '/usr/local/cuda/targets/x86_64-linux/lib', '/usr/lib/wsl/lib'];

let ldCache: Map<string, string> | null = null;

/** Parses `ldconfig -p` (name -> path, 64-bit entries only); empty when ldconfig is absent. */
export function ldconfigCache(refresh = false): Map<string, string> {
  if (ldCache && !refresh) return ldCache;
  ldCache = new Map();
  for (const exe of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    let out: string;
    try {
      out = execFileSync(exe, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
    } catch {
      continue;
    }
    for (const line of out.split('\n')) {
      const m = /^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)/.exec(line);
      if (m && m[2].includes('x86-64') && !ldCache.has(m[1])) ldCache.set(m[1], m[3]);
    }
    break;
  }
  return ldCache;
}

export interface LookupOptions {
  env?: Record<string, string | undefined>;
  /** RUNPATH of the library that needs `name`, and the folder it sits in (for `$ORIGIN`). */
  runpath?: string[];
  origin?: string;
}

/** Finds `name` the way ld.so would: LD_LIBRARY_PATH, RUNPATH, ld.so.cache, system folders. */
export function findLibrary(name: string, options: LookupOptions = {}): LibraryLookup {
  const env = options.env ?? process.env;
  const ldPath = (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  const runpath = (options.runpath ?? []).map((d) => d.replace(/\$(ORIGIN|\{ORIGIN\})/g, options.origin ?? '.'));
  const tiers: [LibraryLookup['via'], string[]][] = [['LD_LIBRARY_PATH', ldPath], ['RUNPATH', runpath]];
  for (const [via, dirs] of tiers) {
    for (const dir of dirs) if (isFile(path.join(dir, name))) return { name, path: path.join(dir, name), via, elsewhere: [] };
  }
  const cached = ldconfigCache().get(name);
  if (cached && isFile(cached)) return { name, path: cached, via: 'ld.so.cache', elsewhere: [] };
  for (const dir of SYSTEM_LIBRARY_DIRS) if (isFile(path.join(dir, name))) return { name, path: path.join(dir, name), via: 'system dir', elsewhere: [] };
  const elsewhere = new Set<string>();
  for (const dir of [...ldPath, ...runpath, ...SYSTEM_LIBRARY_DIRS, ...CUDA_HINT_DIRS]) {
    for (const f of listDir(dir)) if (f === name || f.startsWith(`${name}.`)) elsewhere.add(path.join(dir, f));
  }
  for (const [n, p] of ldconfigCache()) if (n.startsWith(`${name}.`)) elsewhere.add(p);
  return { name, path: null, via: null, elsewhere: [...elsewhere].sort() };
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
