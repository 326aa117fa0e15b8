import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { installCudaProviders } from '../../src/cli/commands/install-cuda';
import { ortNodeVersion } from '../../src/runtime/providers';
import { cli } from '../helpers/cli';
import { fakeProviders, tempDir, tgz, zip } from './fakes';

const CUDA = 'libonnxruntime_providers_cuda.so';
const SHARED = 'libonnxruntime_providers_shared.so';
const MISSING = 'libonnxdiffusion-test-curand.so.10';

describe('install-cuda', () => {
  let dir: string;
  const v = ortNodeVersion();
  const good = fakeProviders(v, [MISSING]);
  before(() => {
    dir = tempDir('install-cuda');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const fresh = (name: string) => fs.mkdtempSync(path.join(dir, `${name}-`));

  function assertInstalled(dest: string, files: Record<string, Buffer>): void {
    for (const name of [CUDA, SHARED]) {
      assert.deepEqual(fs.readFileSync(path.join(dest, name)), files[name], `${name} copied byte for byte`);
      assert.ok(fs.statSync(path.join(dest, name)).mode & 0o100, `${name} is executable like ORT ships it`);
    }
    assert.deepEqual(fs.readdirSync(dest).sort(), [CUDA, SHARED], 'no temporary files left');
  }

  it('installs from a folder, finding the files at any depth, and says what CUDA still lacks', () => {
    const src = fresh('folder');
    fs.mkdirSync(path.join(src, 'onnxruntime-linux-x64-gpu', 'lib'), { recursive: true });
    fs.writeFileSync(path.join(src, 'README'), 'unrelated');
    for (const [name, bytes] of Object.entries(good)) fs.writeFileSync(path.join(src, 'onnxruntime-linux-x64-gpu', 'lib', name), bytes);
    const dest = path.join(fresh('dest'), 'made-by-install');
    const r = cli('install-cuda', '--from', src, '--dest', dest);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^installed ${CUDA} \\(ONNX Runtime ${v.replace(/\./g, '\\.')}, \\d+\\.\\d kB\\) -> ${dest}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^still missing for CUDA: ${MISSING}, `, 'm'));
    assert.match(r.stdout, new RegExp(`^next: ${MISSING} is not found by the dynamic loader`, 'm'));
    assertInstalled(dest, good);
  });

  it('installs from an npm-style .tgz (gzipped tar, one name longer than 100 bytes)', async () => {
    const deep = `package/${'Plugins/Linux/x64/'.repeat(6)}${SHARED}`;
    assert.ok(deep.length > 100);
    const archive = path.join(dir, 'gpu.tgz');
    fs.writeFileSync(archive, tgz({ 'package/package.json': Buffer.from('{}'), [`package/Plugins/Linux/x64/${CUDA}`]: good[CUDA], [deep]: good[SHARED] }));
    const dest = fresh('tgz');
    const res = await installCudaProviders(archive, { dest });
    assert.deepEqual(res.installed.map((l) => [l.name, l.ortVersion]), [[CUDA, v], [SHARED, v]]);
    assertInstalled(dest, good);
  });

  it('installs from a .nupkg (zip, deflated and stored entries) through the CLI', () => {
    const archive = path.join(dir, 'Microsoft.ML.OnnxRuntime.Gpu.Linux.nupkg');
    fs.writeFileSync(archive, zip({ '[Content_Types].xml': Buffer.from('<x/>'), [`runtimes/linux-x64/native/${CUDA}`]: good[CUDA], [`runtimes/linux-x64/native/${SHARED}`]: good[SHARED] }, [`runtimes/linux-x64/native/${SHARED}`]));
    const dest = fresh('nupkg');
    const r = cli('install-cuda', '--from', archive, '--dest', dest);
    assert.equal(r.code, 0, r.stderr);
    assertInstalled(dest, good);
  });

  it('refuses providers from another ONNX Runtime version, leaving DEST untouched; --force installs them', () => {
    const old = fakeProviders('1.28.0');
    const archive = path.join(dir, 'old.tgz');
    fs.writeFileSync(archive, tgz({ [CUDA]: old[CUDA], [SHARED]: old[SHARED] }));
    const dest = fresh('old');
    const r = cli('install-cuda', '--from', archive, '--dest', dest);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `error: ${archive}: ${CUDA} is from ONNX Runtime 1.28.0, but onnxruntime-node is ${v}: use the ${v} GPU archive, or pass --force to install it anyway\n`);
    assert.deepEqual(fs.readdirSync(dest), []);
    const forced = cli('install-cuda', '--from', archive, '--dest', dest, '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assertInstalled(dest, old);
  });

  it('refuses a CUDA provider with no version string inside', async () => {
    const src = fresh('noversion');
    fs.writeFileSync(path.join(src, CUDA), 'no version here');
    fs.writeFileSync(path.join(src, SHARED), 'nor here');
    await assert.rejects(installCudaProviders(src, { dest: fresh('nv') }), { message: `${src}: ${CUDA} carries no ONNX Runtime version string, but onnxruntime-node is ${v}: use the ${v} GPU archive, or pass --force to install it anyway` });
  });

  it('gives one clear line for a missing path, a non-archive, an archive without the files and a truncated one', async () => {
    const absent = path.join(dir, 'nope.tgz');
    const r = cli('install-cuda', '--from', absent, '--dest', fresh('x'));
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `error: ${absent}: no such file or folder (give an ONNX Runtime GPU archive or a folder holding the provider libraries)\n`);
    const text = path.join(dir, 'notes.txt');
    fs.writeFileSync(text, 'just text');
    await assert.rejects(installCudaProviders(text, { dest: fresh('x') }), { message: `${text}: is not a folder, a .tgz/.tar.gz/.tar or a .zip/.nupkg archive` });
    const cpuOnly = path.join(dir, 'cpu.tgz');
    fs.writeFileSync(cpuOnly, tgz({ 'lib/libonnxruntime.so.1': Buffer.from('cpu'), [`lib/${SHARED}`]: good[SHARED] }));
    await assert.rejects(installCudaProviders(cpuOnly, { dest: fresh('x') }), { message: `${cpuOnly}: no ${CUDA} inside (it needs an ONNX Runtime GPU build for Linux x64)` });
    const cut = path.join(dir, 'cut.tgz');
    const whole = tgz({ [CUDA]: Buffer.alloc(200000, 7), [SHARED]: good[SHARED] });
    fs.writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    const dest = fresh('cut');
    await assert.rejects(installCudaProviders(cut, { dest }), { message: new RegExp(`^${cut}: cannot be read as a gzipped tar archive`) });
    assert.deepEqual(fs.readdirSync(dest), [], 'a failed install leaves no temporary files');
  });

  it('--help says where to get the archive', () => {
    const r = cli('install-cuda', '--help');
    assert.equal(r.code, 0);
    assert.match(r.stdout.replace(/\s+/g, ' '), /com\.github\.asus4\.onnxruntime\.linux-x64-gpu@0\.4\.9/);
    assert.match(r.stdout, /--from/);
  });
});
