import * as assert from 'node:assert/strict';
import { decodeNpy, encodeNpy, npyToFloat32 } from '../../src/data/npy';
import type { NpyArray } from '../../src/data/npy';
import { npyWithHeader } from '../../tools/fuzz/edges';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
// Written by numpy 1.x (np.lib.format.write_array), an independent reference.
const NUMPY_F4_2x3 = hex('934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000c03f000000c0000000000000404000008840000000bf');
const NUMPY_BE_F8 = hex('934e554d5059010076007b276465736372273a20273e6638272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a3ff8000000000000c002000000000000');
const NUMPY_V2_I8 = hex('934e554d50590200740000007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0700000000000000fdffffffffffffff0000000000010000');
const NUMPY_SCALAR = hex('934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a00006040');

describe('.npy reader and writer', () => {
  it('reads what numpy writes: float32 [2,3], big-endian float64, version 2.0 int64, a 0-d scalar', () => {
    const a = decodeNpy(NUMPY_F4_2x3);
    assert.equal(a.dtype, 'float32');
    assert.deepEqual(a.shape, [2, 3]);
    assert.deepEqual(Array.from(a.data as Float32Array), [1.5, -2, 0, 3, 4.25, -0.5]);
    const b = decodeNpy(NUMPY_BE_F8);
    assert.equal(b.dtype, 'float64');
    assert.deepEqual(Array.from(b.data as Float64Array), [1.5, -2.25]);
    const c = decodeNpy(NUMPY_V2_I8);
    assert.deepEqual(Array.from(c.data as BigInt64Array), [7n, -3n, 2n ** 40n]);
    assert.deepEqual(Array.from(npyToFloat32(c)), [7, -3, 2 ** 40]);
    // A Node Buffer from readFileSync is a view into a shared pool: the data must still be its own.
    const pooled = Buffer.concat([Buffer.alloc(3, 7), Buffer.from(NUMPY_F4_2x3)]).subarray(3);
    assert.deepEqual(Array.from(decodeNpy(pooled).data as Float32Array), [1.5, -2, 0, 3, 4.25, -0.5]);
    const d = decodeNpy(NUMPY_SCALAR);
    assert.deepEqual(d.shape, []);
    assert.deepEqual(Array.from(d.data as Float32Array), [3.5]);
  });

  it('writes byte for byte what numpy writes (version 1.0, data 64-byte aligned)', () => {
    const out = encodeNpy({ dtype: 'float32', shape: [2, 3], data: Float32Array.of(1.5, -2, 0, 3, 4.25, -0.5) });
    assert.deepEqual(Buffer.from(out).toString('hex'), Buffer.from(NUMPY_F4_2x3).toString('hex'));
    assert.equal(encodeNpy({ dtype: 'float32', shape: [], data: Float32Array.of(3.5) }).length, NUMPY_SCALAR.length);
  });

  it('round-trips every dtype it writes', () => {
    const cases = [
      { dtype: 'float64', shape: [3], data: Float64Array.of(1e-300, -0.5, 7) },
      { dtype: 'int64', shape: [1, 2], data: BigInt64Array.of(-1n, 9007199254740993n) },
      { dtype: 'int32', shape: [2], data: Int32Array.of(-7, 2 ** 30) },
      { dtype: 'uint8', shape: [2, 2, 1], data: Uint8Array.of(0, 1, 254, 255) },
    ] as const;
    for (const c of cases) {
      const back = decodeNpy(encodeNpy(c as unknown as NpyArray));
      assert.equal(back.dtype, c.dtype);
      assert.deepEqual(back.shape, c.shape);
      assert.deepEqual(Array.from(back.data as ArrayLike<unknown>), Array.from(c.data as ArrayLike<unknown>));
    }
  });

  it('names the file and the problem: bad magic, truncated data, unsupported dtype, Fortran order', () => {
    assert.throws(() => decodeNpy(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), 'x.npy'), /^NpyError: x\.npy: not a readable \.npy file: bad magic/);
    assert.throws(() => decodeNpy(NUMPY_F4_2x3.slice(0, -4), 'y.npy'), /y\.npy: .*header key 'shape': data has 20 bytes, the shape promises 24/);
    const text = (s: string) => Buffer.from(NUMPY_F4_2x3).toString('latin1').replace("'<f4'", s);
    assert.throws(() => decodeNpy(Uint8Array.from(Buffer.from(text("'<c8'"), 'latin1')), 'z.npy'), /dtype '<c8' is not supported/);
    const fortran = Buffer.from(NUMPY_F4_2x3).toString('latin1').replace('False', 'True ');
    assert.throws(() => decodeNpy(Uint8Array.from(Buffer.from(fortran, 'latin1'))), /Fortran-order arrays are not supported/);
  });

  it('parses the header by its grammar: a \'descr\' inside another key\'s string is not the dtype (issue 26)', () => {
    const npy = npyWithHeader;
    const f8 = new Uint8Array(Float64Array.of(1.5, -2.25).buffer);
    // The regex reader took the first 'descr' it saw: this <f8 data was read as four float32s.
    const tricky = npy(`{'note': "'descr': '<f4', ", 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }`, f8);
    assert.throws(() => decodeNpy(tricky, 'n.npy'), /^NpyError: n\.npy: not a readable \.npy file: header key 'note': not a \.npy header key/);
    const ok = decodeNpy(npy(`{"shape": (2,), 'fortran_order': False, 'descr': '<f8'}`, f8), 'o.npy');
    assert.deepEqual([ok.dtype, ok.shape, [...ok.data]], ['float64', [2], [1.5, -2.25]]);
    const bad: [string, RegExp][] = [
      [`{'descr': '<f8', 'fortran_order': False, 'shape': 5}`, /key 'shape': expected a tuple of non-negative integers/],
      [`{'descr': '<f8', 'fortran_order': False, 'shape': (2, -1)}`, /key 'shape': expected a tuple/],
      [`{'descr': '<f8', 'fortran_order': 'no', 'shape': (2,)}`, /key 'fortran_order': expected True or False/],
      [`{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}`, /key 'descr': expected a dtype string/],
      [`{'descr': '<f8', 'fortran_order': False}`, /key 'shape': missing/],
      [`{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}`, /key 'descr' given twice/],
      [`{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} junk`, /unexpected text after the header dict/],
      [`{'descr': '<f8`, /unterminated string/],
      [`${'('.repeat(100)}`, /nested too deeply/],
      [`{'descr': '<f8', 'fortran_order': False, 'shape': (9007199254740993,)}`, /key 'shape'/],
    ];
    for (const [h, re] of bad) assert.throws(() => decodeNpy(npy(h, f8), 'b.npy'), (e: Error) => e.name === 'NpyError' && re.test(e.message) && e.message.startsWith('b.npy: '), h);
  });
});
