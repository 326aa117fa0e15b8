import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { DiffusionError } from '../../src/core/errors';
import { Builder } from '../../src/onnx/builder';
import { newModel } from '../../src/onnx/ir';
import { Tensor } from '../../src/onnx/tensor';
import { cudaPreflight, cudaProblem, cudaReport, explainCudaFailure, loaderProblem } from '../../src/runtime/cuda';
import { NodeSession } from '../../src/runtime/node';
import { bindingDir, ortNodeVersion } from '../../src/runtime/providers';
import { packageRoot } from '../../src/core/node/package-files';
import { cli } from '../helpers/cli';
import { fakeProviders, tempDir } from './fakes';

const MISSING = 'libonnxdiffusion-test-cublas.so.13';

function addModel() {
  const b = new Builder();
  const x = b.input('x', 'float32', [2]);
  b.output(b.add(x, x), 'y');
  return newModel(b.graph);
}

describe('runtime/cuda', () => {
  let dir: string;
  const v = ortNodeVersion();
  before(() => {
    dir = tempDir('cuda');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function install(version: string, needed: string[]): string {
    const d = fs.mkdtempSync(path.join(dir, 'bin-'));
    for (const [name, bytes] of Object.entries(fakeProviders(version, needed))) fs.writeFileSync(path.join(d, name), bytes);
    return d;
  }

  it('NodeSession on cuda without provider libraries names the missing file and install-cuda', async function () {
    if (fs.existsSync(path.join(bindingDir(), 'libonnxruntime_providers_cuda.so'))) this.skip();
    await assert.rejects(
      NodeSession.create(addModel(), { device: 'cuda' }),
      (e: unknown) => {
        assert.ok(e instanceof DiffusionError);
        assert.match(e.message, /^CUDA requested but libonnxruntime_providers_cuda\.so is missing in \S+napi-v6\/linux\/x64: run 'onnx-diffusion install-cuda --from <ORT 1\.29\.0 GPU archive>' \(see \S+\/docs\/cuda\.md\)$/);
        return true;
      },
    );
  });

  it('`sample --device cuda` prints the same one line and exits 1', function () {
    if (fs.existsSync(path.join(bindingDir(), 'libonnxruntime_providers_cuda.so'))) this.skip();
    const out = fs.mkdtempSync(path.join(dir, 'model-'));
    const built = cli('build-graph', '--recipe', 'graphs/unet-tiny.json', '--out', out);
    assert.equal(built.code, 0, built.stderr);
    const r = cli('sample', '--model', path.join(out, 'model.onnx'), '-n', '1', '--steps', '2', '--device', 'cuda', '--out', path.join(out, 's.png'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: CUDA requested but libonnxruntime_providers_cuda\.so is missing in \S+: run 'onnx-diffusion install-cuda --from <ORT 1\.29\.0 GPU archive>' \(see \S+\/docs\/cuda\.md\)\n$/);
    assert.ok(!fs.existsSync(path.join(out, 's.png')));
  });

  it('the CPU session still works after a refused CUDA one', async () => {
    const s = await NodeSession.create(addModel(), { device: 'cpu' });
    try {
      assert.equal(s.device, 'cpu');
      const out = await s.run({ x: Tensor.float32([2], [1.5, -2]) });
      assert.deepEqual(out.y.toNumbers(), [3, -4]);
    } finally {
      await s.release();
    }
  });

  it('names a CUDA library the provider links that the loader cannot find', () => {
    const d = install(v, [MISSING, 'libc.so.6']);
    assert.throws(
      () => cudaPreflight({ bindingDir: d, env: {} }),
      new DiffusionError(`CUDA requested but ${MISSING} is not found by the dynamic loader: install the CUDA 13 libraries and add their folder to LD_LIBRARY_PATH`),
    );
    const r = cudaReport({ bindingDir: d, env: {} });
    assert.equal(r.librariesFrom, 'provider');
    assert.deepEqual(r.libraries.map((l) => [l.name, l.kind]), [[MISSING, 'linked'], ['libcudnn.so', 'dlopen'], ['libnvrtc.so', 'dlopen']], 'libc.so.6 is not a CUDA library');
  });

  it('passes the linked libraries found through LD_LIBRARY_PATH on to the run-time ones', () => {
    const d = install(v, [MISSING]);
    const lib = fs.mkdtempSync(path.join(dir, 'lib-'));
    fs.writeFileSync(path.join(lib, MISSING), '');
    const r = cudaReport({ bindingDir: d, env: { LD_LIBRARY_PATH: lib } });
    assert.equal(r.libraries[0].via, 'LD_LIBRARY_PATH');
    const problem = cudaProblem(r);
    if (r.libraries.every((l) => l.path)) assert.equal(problem, null);
    else assert.match(problem ?? '', /^CUDA requested but (libcudnn|libnvrtc)\.so is not found by the dynamic loader/);
  });

  it('refuses a provider built for another ONNX Runtime version', () => {
    const d = install('1.22.0', []);
    assert.throws(() => cudaPreflight({ bindingDir: d, env: {} }), {
      message: `CUDA requested but libonnxruntime_providers_cuda.so is built for ONNX Runtime 1.22.0, and onnxruntime-node is ${v}: run 'onnx-diffusion install-cuda --from <ORT ${v} GPU archive>' (see ${path.join(packageRoot(), 'docs', 'cuda.md')})`,
    });
  });

  it('names a missing shared provider library', () => {
    const d = install(v, []);
    fs.rmSync(path.join(d, 'libonnxruntime_providers_shared.so'));
    assert.throws(() => cudaPreflight({ bindingDir: d, env: {} }), { message: /^CUDA requested but libonnxruntime_providers_shared\.so is missing in / });
  });

  it('gives the symlink fix when only a versioned cuDNN exists, and the driver fix for libcuda.so.1', () => {
    assert.equal(
      loaderProblem('libcudnn.so', 'dlopen', ['/opt/nvidia/cudnn/lib/libcudnn.so.9']),
      'CUDA requested but libcudnn.so is not found by the dynamic loader (only /opt/nvidia/cudnn/lib/libcudnn.so.9 exists): make a symlink libcudnn.so -> libcudnn.so.9 in a folder on LD_LIBRARY_PATH',
    );
    assert.match(loaderProblem('libcuda.so.1', 'driver'), /libcuda\.so\.1 is not found by the dynamic loader: install the NVIDIA driver/);
    assert.match(loaderProblem('libcublas.so.13', 'linked', ['/usr/local/cuda/lib64/libcublas.so.13']), /\(it is in \/usr\/local\/cuda\/lib64, which the loader does not search\): add that folder to LD_LIBRARY_PATH$/);
  });

  it("maps ONNX Runtime's load errors to the same one-line style", () => {
    const d = install(v, [MISSING]);
    // What onnxruntime-node 1.29.0 throws (the loader's reason goes to its log only).
    assert.equal(
      explainCudaFailure('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library', { bindingDir: d, env: {} }),
      `CUDA requested but ${MISSING} is not found by the dynamic loader: install the CUDA 13 libraries and add their folder to LD_LIBRARY_PATH`,
    );
    const logged = `[ONNXRuntimeError] : 1 : FAIL : Failed to load library ${d}/libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory`;
    assert.match(explainCudaFailure(logged, { env: {} }) ?? '', /^CUDA requested but libcublasLt\.so\.13 is not found by the dynamic loader/);
    assert.match(explainCudaFailure('CUDA failure 100: no CUDA-capable device is detected ; GPU=0', { env: {} }) ?? '', /^CUDA requested but the CUDA execution provider failed: CUDA failure 100/);
    assert.equal(explainCudaFailure('Type Error: Type (tensor(int64)) of output arg (y) of node () does not match'), null);
  });
});
