import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { FileFormatError } from '../../src/core/errors';
import { bindingDir, elfSection, findLibrary, ldconfigCache, ortVersionIn, readElfDynamic, versionStrings } from '../../src/runtime/providers';
import { fakeElf, tempDir } from './fakes';

describe('runtime/providers', () => {
  let dir: string;
  before(() => {
    dir = tempDir('providers');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('ELF reader', () => {
    it('lists libonnxruntime.so.1 as DT_NEEDED of the onnxruntime-node binding, with RUNPATH $ORIGIN', () => {
      const dyn = readElfDynamic(path.join(bindingDir(), 'onnxruntime_binding.node'));
      assert.ok(dyn.needed.includes('libonnxruntime.so.1'), `needed: ${dyn.needed.join(', ')}`);
      assert.ok(dyn.needed.includes('libc.so.6'));
      assert.ok(dyn.runpath.some((p) => p.startsWith('$ORIGIN')), `runpath: ${dyn.runpath.join(':')}`);
    });

    it('reads DT_NEEDED of a system program (/bin/ls links libc.so.6)', function () {
      if (!fs.existsSync('/bin/ls')) this.skip();
      assert.ok(readElfDynamic('/bin/ls').needed.includes('libc.so.6'));
    });

    it('reads DT_NEEDED and DT_RUNPATH of a hand-written ELF in file order', () => {
      const f = path.join(dir, 'fake.so');
      fs.writeFileSync(f, fakeElf(['libcublasLt.so.13', 'libcudart.so.13'], '', '$ORIGIN/../lib'));
      assert.deepEqual(readElfDynamic(f), { needed: ['libcublasLt.so.13', 'libcudart.so.13'], soname: null, runpath: ['$ORIGIN/../lib'] });
      assert.equal(elfSection(f, '.rodata'), null, 'no section headers');
    });

    it('finds .rodata in libonnxruntime.so.1 inside the file', () => {
      const lib = path.join(bindingDir(), 'libonnxruntime.so.1');
      const s = elfSection(lib, '.rodata');
      assert.ok(s && s.size > 0 && s.offset + s.size <= fs.statSync(lib).size);
    });

    it('rejects a file that is not ELF, naming it', () => {
      const f = path.join(dir, 'text.so');
      fs.writeFileSync(f, 'not a library');
      assert.throws(() => readElfDynamic(f), (e: unknown) => e instanceof FileFormatError && /text\.so: is not an ELF file/.test(e.message));
      assert.throws(() => readElfDynamic(path.join(dir, 'absent.so')), /absent\.so: no such file/);
    });
  });

  describe('ORT version inside a library', () => {
    it('finds 1.29.0 in the libonnxruntime.so.1 that onnxruntime-node ships', () => {
      assert.equal(ortVersionIn(path.join(bindingDir(), 'libonnxruntime.so.1'), '1.29.0'), '1.29.0');
    });

    it('reports another ORT version when the expected one is absent, and null when none', () => {
      const f = path.join(dir, 'v.so');
      fs.writeFileSync(f, Buffer.from('head\x001.3.9\x00x\x001.28.1\x00tail', 'latin1'));
      assert.deepEqual(versionStrings(f), ['1.3.9', '1.28.1']);
      assert.equal(ortVersionIn(f, '1.29.0'), '1.28.1');
      assert.equal(ortVersionIn(f, '1.3.9'), '1.3.9');
      fs.writeFileSync(f, Buffer.from('no versions\x001.3.9\x00', 'latin1'));
      assert.equal(ortVersionIn(f, '1.29.0'), null);
    });
  });

  describe('dynamic loader lookup', () => {
    it('finds a library through LD_LIBRARY_PATH first', () => {
      const lib = path.join(dir, 'ld');
      fs.mkdirSync(lib, { recursive: true });
      fs.writeFileSync(path.join(lib, 'libonnxdiffusiontest.so.3'), '');
      const r = findLibrary('libonnxdiffusiontest.so.3', { env: { LD_LIBRARY_PATH: `/nonexistent:${lib}` } });
      assert.equal(r.path, path.join(lib, 'libonnxdiffusiontest.so.3'));
      assert.equal(r.via, 'LD_LIBRARY_PATH');
    });

    it('expands $ORIGIN in RUNPATH', () => {
      const r = findLibrary('libonnxruntime.so.1', { env: {}, runpath: ['$ORIGIN/'], origin: bindingDir() });
      assert.equal(r.via, 'RUNPATH');
    });

    it('finds libc.so.6 through ld.so.cache or a system folder', () => {
      const r = findLibrary('libc.so.6', { env: {} });
      assert.ok(r.path && ['ld.so.cache', 'system dir'].includes(r.via ?? ''), JSON.stringify(r));
      if (fs.existsSync('/sbin/ldconfig') || fs.existsSync('/usr/sbin/ldconfig')) assert.ok(ldconfigCache().has('libc.so.6'));
    });

    it('reports versioned files of a missing unversioned name', () => {
      const lib = path.join(dir, 'cudnn');
      fs.mkdirSync(lib, { recursive: true });
      fs.writeFileSync(path.join(lib, 'libonnxdiffusiontest-dnn.so.9'), '');
      const r = findLibrary('libonnxdiffusiontest-dnn.so', { env: { LD_LIBRARY_PATH: lib } });
      assert.equal(r.path, null);
      assert.deepEqual(r.elsewhere, [path.join(lib, 'libonnxdiffusiontest-dnn.so.9')]);
    });
  });
});
