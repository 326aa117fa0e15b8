import * as os from 'os';
import * as path from 'path';
import { ortNode } from '../../runtime/ort-node';
import type { CommandModule } from 'yargs';
import { Builder } from '../../onnx/builder';
import { newModel } from '../../onnx/ir';
import { encodeModel } from '../../onnx/proto';
import { Tensor } from '../../onnx/tensor';
import { CudaReport, cudaReport } from '../../runtime/cuda';
import { Device, NodeSession } from '../../runtime/node';
import { bindingDir, findPackageJson, ortVersionIn, packageVersion } from '../../runtime/providers';

interface DoctorArgs {
  json?: boolean;
}

/** Whether a session on a device could be created and run, and if not the one-line reason. */
export interface ProviderProbe {
  ok: boolean;
  reason?: string;
  /** Milliseconds to create the session and run it once. */
  ms?: number;
}

/** What `doctor` finds; `--json` prints exactly this object. */
export interface DoctorReport {
  versions: { node: string; onnxDiffusion: string | null; onnxruntimeNode: string | null; onnxruntimeWeb: string | null; sharp: string | null };
  platform: string;
  cpu: { cores: number; model: string };
  onnxruntime: {
    bindingDir: string;
    /** ORT version string inside libonnxruntime.so.1 next to the binding. */
    libraryVersion: string | null;
    /** Providers the binding knows; `bundled: false` ones need extra libraries (see install-cuda). */
    backends: { name: string; bundled: boolean }[];
  };
  providers: Record<Device, ProviderProbe>;
  cuda: CudaReport;
  ldLibraryPath: string[];
}

/** A one-node graph (y = x + x) that every execution provider implements. */
function tinyModel(): Uint8Array {
  const b = new Builder();
  const x = b.input('x', 'float32', [4]);
  b.output(b.add(x, x), 'y');
  return encodeModel(newModel(b.graph));
}

async function probe(device: Device): Promise<ProviderProbe> {
  const start = Date.now();
  let session: NodeSession | null = null;
  try {
    session = await NodeSession.create(tinyModel(), { device, threads: 1 });
    const { y } = await session.run({ x: Tensor.float32([4], [1, 2, 3, 4]) });
    const got = y.toNumbers();
    if (got.join() !== '2,4,6,8') return { ok: false, reason: `x + x gave [${got.join(', ')}], expected [2, 4, 6, 8]` };
    return { ok: true, ms: Date.now() - start };
  } catch (e) {
    return { ok: false, reason: (e as Error).message.split('\n')[0] };
  } finally {
    await session?.dispose();
  }
}

export async function doctor(): Promise<DoctorReport> {
  const dir = bindingDir();
  let libraryVersion: string | null = null;
  try {
    libraryVersion = ortVersionIn(path.join(dir, `libonnxruntime.so.1`));
  } catch {
    // reported as unknown
  }
  const backends = (ortNode() as unknown as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }).listSupportedBackends?.() ?? [];
  const cpus = os.cpus();
  return {
    versions: {
      node: process.version,
      onnxDiffusion: findPackageJson(__dirname, 'onnx-diffusion')?.version ?? null,
      onnxruntimeNode: packageVersion('onnxruntime-node'),
      onnxruntimeWeb: packageVersion('onnxruntime-web'),
      sharp: packageVersion('sharp'),
    },
    platform: `${process.platform} ${process.arch}`,
    cpu: { cores: os.availableParallelism(), model: cpus[0]?.model.trim() ?? 'unknown' },
    onnxruntime: { bindingDir: dir, libraryVersion, backends: backends.map((b) => ({ name: b.name, bundled: b.bundled })) },
    providers: { cpu: await probe('cpu'), cuda: await probe('cuda') },
    cuda: cudaReport(),
    ldLibraryPath: (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
  };
}

const size = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);

export function formatDoctor(r: DoctorReport): string {
  const v = r.versions;
  const lines = [
    `onnx-diffusion ${v.onnxDiffusion ?? '?'} on ${r.platform}, node ${v.node}`,
    `  onnxruntime-node ${v.onnxruntimeNode ?? 'not installed'} (libonnxruntime.so.1: ${r.onnxruntime.libraryVersion ?? 'version unknown'}), ` +
      `onnxruntime-web ${v.onnxruntimeWeb ?? 'not installed'}, sharp ${v.sharp ?? 'not installed'}`,
    `  CPU: ${r.cpu.cores} cores, ${r.cpu.model}`,
    `  binding: ${r.onnxruntime.bindingDir}`,
    `  providers the binding knows: ${r.onnxruntime.backends.map((b) => `${b.name}${b.bundled ? '' : ' (needs extra libraries)'}`).join(', ')}`,
    'execution providers (a one-node session created and run on each):',
  ];
  for (const [name, p] of Object.entries(r.providers)) lines.push(`  ${name.padEnd(5)} ${p.ok ? `ok (${p.ms} ms)` : `no: ${p.reason}`}`);
  lines.push(`CUDA provider libraries (must come from ONNX Runtime ${r.cuda.expectedVersion}):`);
  for (const p of r.cuda.providers) {
    const version = p.ortVersion === undefined ? '' : p.ortVersion ? `, ONNX Runtime ${p.ortVersion}` : ', no version string';
    lines.push(`  ${p.name.padEnd(36)} ${p.present ? `${p.path} (${size(p.bytes ?? 0)}${version})` : `missing in ${r.cuda.bindingDir}`}`);
  }
  const from = r.cuda.librariesFrom === 'provider' ? "the provider's DT_NEEDED" : 'a built-in list: the provider is not installed';
  lines.push(`CUDA libraries, as the dynamic loader would find them (list from ${from}):`);
  for (const l of r.cuda.libraries) {
    const note = l.kind === 'driver' ? ' (NVIDIA driver)' : l.kind === 'dlopen' ? ' (loaded by this name at run time)' : '';
    const where = l.path ? `${l.path} (${l.via})` : `not found${note}${l.elsewhere.length ? `; seen: ${l.elsewhere.join(', ')}` : ''}`;
    lines.push(`  ${l.name.padEnd(20)} ${where}`);
  }
  lines.push(`LD_LIBRARY_PATH: ${r.ldLibraryPath.length ? r.ldLibraryPath.join(':') : '(not set)'}`);
  return lines.join('\n');
}

export const doctorCommand: CommandModule<object, DoctorArgs> = {
  command: 'doctor',
  describe: 'Check versions, which execution providers start here, and what CUDA still needs',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'Print one machine-readable JSON object' }),
  handler: async (args) => {
    const r = await doctor();
    process.stdout.write(`${args.json ? JSON.stringify(r, null, 2) : formatDoctor(r)}\n`);
    if (!r.providers.cpu.ok) process.exitCode = 1;
  },
};
