import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

/** A fresh temporary folder under the OS temp dir. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `onnx-diffusion-${prefix}-`));
}

/**
 * A minimal ELF64 shared object written by hand (independent of src/): one PT_LOAD mapping the
 * whole file at address 0, one PT_DYNAMIC listing DT_NEEDED entries (and DT_RUNPATH), no
 * sections, then `payload` (e.g. an embedded "\0 1.29.0 \0" version string).
 */
export function fakeElf(needed: string[], payload = '', runpath?: string): Buffer {
  const strs = ['', ...needed, ...(runpath ? [runpath] : [])];
  const strtab = Buffer.from(`${strs.join('\0')}\0`, 'latin1');
  const offsets = strs.map((_, i) => strs.slice(0, i).reduce((n, s) => n + s.length + 1, 0));
  const strOff = 64 + 2 * 56;
  const dynOff = Math.ceil((strOff + strtab.length) / 8) * 8;
  const tags: [number, number][] = needed.map((_, i) => [1, offsets[i + 1]]);
  if (runpath) tags.push([29, offsets[strs.length - 1]]);
  tags.push([5, strOff], [10, strtab.length], [0, 0]);
  const dyn = Buffer.alloc(tags.length * 16);
  tags.forEach(([t, v], i) => {
    dyn.writeBigInt64LE(BigInt(t), i * 16);
    dyn.writeBigUInt64LE(BigInt(v), i * 16 + 8);
  });
  const tail = Buffer.from(payload, 'latin1');
  const total = dynOff + dyn.length + tail.length;
  const f = Buffer.alloc(total);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(f, 0);
  f.writeUInt16LE(3, 16); // ET_DYN
  f.writeUInt16LE(62, 18); // x86-64
  f.writeUInt32LE(1, 20);
  f.writeBigUInt64LE(64n, 32); // e_phoff
  f.writeUInt16LE(64, 52);
  f.writeUInt16LE(56, 54);
  f.writeUInt16LE(2, 56);
  f.writeUInt16LE(64, 58);
  const ph = (i: number, type: number, off: number, size: number) => {
    const o = 64 + i * 56;
    f.writeUInt32LE(type, o);
    f.writeUInt32LE(4, o + 4);
    for (const k of [8, 16, 24]) f.writeBigUInt64LE(BigInt(off), o + k);
    f.writeBigUInt64LE(BigInt(size), o + 32);
    f.writeBigUInt64LE(BigInt(size), o + 40);
    f.writeBigUInt64LE(8n, o + 48);
  };
  ph(0, 1, 0, total);
  ph(1, 2, dynOff, dyn.length);
  strtab.copy(f, strOff);
  dyn.copy(f, dynOff);
  tail.copy(f, dynOff + dyn.length);
  return f;
}

/** Fake provider libraries: the CUDA one an ELF needing `needed` with `version` inside, the shared one plain bytes. */
export function fakeProviders(version: string, needed: string[] = []): Record<string, Buffer> {
  return {
    'libonnxruntime_providers_cuda.so': fakeElf(needed, `fake cuda provider\0${version}\0more\0`),
    'libonnxruntime_providers_shared.so': Buffer.from(`fake shared provider\0${version}\0`, 'latin1'),
  };
}

function tarHeader(name: string, size: number, type = '0', prefix = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write('0000755\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write(prefix, 345);
  h.fill(' ', 148, 156);
  const sum = h.reduce((a, b) => a + b, 0);
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

/** A ustar archive; names over 100 bytes get a GNU 'L' long-name entry, as GNU tar writes them. */
export function tar(files: Record<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of Object.entries(files)) {
    if (name.length > 100) {
      const long = Buffer.from(`${name}\0`);
      parts.push(tarHeader('././@LongLink', long.length, 'L'), long, pad(long.length));
    }
    parts.push(tarHeader(name, data.length), data, pad(data.length));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const tgz = (files: Record<string, Buffer>) => zlib.gzipSync(tar(files));

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip (as a .nupkg is): deflated entries except those named in `stored`. */
export function zip(files: Record<string, Buffer>, stored: string[] = []): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const method = stored.includes(name) ? 0 : 8;
    const body = method ? zlib.deflateRawSync(data) : data;
    const n = Buffer.from(name);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt32LE(crc32(data), 14);
    lh.writeUInt32LE(body.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(n.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt32LE(crc32(data), 16);
    ch.writeUInt32LE(body.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(n.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, n, body);
    central.push(ch, n);
    offset += 30 + n.length + body.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
