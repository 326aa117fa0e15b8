import * as assert from 'node:assert/strict';
import { findLibrary } from '../../src/runtime/providers';
import type { DoctorReport } from '../../src/cli/commands/doctor';
import { cli } from '../helpers/cli';

describe('doctor', () => {
  it('--json reports versions, a working cpu provider, and cuda with a reason when it cannot start', () => {
    const r = cli('doctor', '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as DoctorReport;
    assert.equal(report.versions.onnxruntimeNode, '1.29.0');
    assert.equal(report.versions.onnxruntimeWeb, '1.29.0');
    assert.match(report.versions.node, /^v\d+\./);
    assert.equal(report.onnxruntime.libraryVersion, '1.29.0');
    assert.ok(report.cpu.cores >= 1);
    assert.equal(report.providers.cpu.ok, true);
    assert.ok(report.onnxruntime.backends.some((b) => b.name === 'cuda'));
    assert.deepEqual(report.cuda.providers.map((p) => p.name), ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so']);
    for (const name of ['libcudart.so.13', 'libcublasLt.so.13', 'libcudnn.so', 'libnvrtc.so']) {
      assert.ok(report.cuda.libraries.some((l) => l.name === name), `${name} listed`);
    }
    // Without the NVIDIA driver (a CPU-only machine) CUDA cannot start, and doctor says why.
    if (!findLibrary('libcuda.so.1').path) assert.equal(report.providers.cuda.ok, false);
    if (!report.providers.cuda.ok) assert.match(report.providers.cuda.reason ?? '', /^CUDA requested but \S+ is (missing in|not found by|built for)/);
  });

  it('prints a readable report', () => {
    const r = cli('doctor');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^onnx-diffusion \S+ on linux x64, node v/);
    assert.match(r.stdout, /^ {2}cpu {3}ok \(\d+ ms\)$/m);
    assert.match(r.stdout, /^ {2}cuda {2}(ok|no: CUDA requested but .+)$/m);
    assert.match(r.stdout, /^ {2}libcublasLt\.so\.13 +\S/m);
  });
});
