/**
 * A bare float16 model file's figures (docs/real-models.md, "float16 model files"):
 *
 *   node --import tsx tools/bench-fp16-file.ts [--runs 15] [--threads 2]
 *
 * The tiny-sd UNet (test/fixtures/tiny-sd/unet, external weights) converted to float16 by
 * test/sd/half-export.ts, loaded by loadModel as a bare file with its schedule as config: as exported
 * (precision 'float16'), widened (precision 'auto', the CPU default: float32), and the float32
 * original. Seconds to load, and seconds per call of one batch-2 UNet evaluation (the reference's
 * step 0), the three models' calls interleaved, median of `--runs` after one warm-up call each.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeNpy, npyToFloat32 } from '../src/data/npy';
import { loadModel } from '../src/runtime/load';
import type { DiffusionModel } from '../src/runtime/model';
import { encodeModelToFiles, readModelFiles } from '../src/runtime/model-files';
import type { Precision } from '../src/diffusion/sd/load';
import { halfGraph } from '../test/sd/half-export';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const runs = flag('--runs', 15);
const threads = flag('--threads', 2);
const FIX = path.join(__dirname, '..', 'test', 'fixtures', 'tiny-sd');
const ref = (name: string) => npyToFloat32(decodeNpy(fs.readFileSync(path.join(FIX, 'reference', `${name}.npy`)), name));
const BARE = { image: { channels: 4, size: 16 }, diffusion: { schedule: 'scaled-linear', betaStart: 0.00085, betaEnd: 0.012 } };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-fp16-file-'));
  try {
    const src = path.join(FIX, 'unet', 'model.onnx');
    const half = path.join(tmp, 'unet-fp16.onnx');
    const m = readModelFiles(src);
    encodeModelToFiles({ ...m, graph: halfGraph(m.graph, { float32Cone: ['timestep'] }) }, half, { externalData: true, location: 'unet-fp16.onnx.data' });
    const latents = ref('latents_init');
    const x = new Float32Array(2 * latents.length);
    x.set(latents, 0);
    x.set(latents, latents.length);
    const inputs = { encoder_hidden_states: ref('encoder_hidden_states') };
    const t = Int32Array.from([751, 751]);
    const rows: { name: string; file: string; precision?: Precision; model?: DiffusionModel; load?: number; calls: number[] }[] = [
      { name: 'float16 file, as exported (precision float16)', file: half, precision: 'float16', calls: [] },
      { name: 'float16 file, widened (precision auto = float32 on the CPU)', file: half, calls: [] },
      { name: 'float32 file', file: src, calls: [] },
    ];
    for (const r of rows) {
      const t0 = performance.now();
      r.model = await loadModel(r.file, { config: BARE, threads, precision: r.precision });
      r.load = (performance.now() - t0) / 1000;
      await r.model.run(x, t, { inputs });
    }
    for (let k = 0; k < runs; k++) {
      for (const r of rows) {
        const t0 = performance.now();
        await r.model!.run(x, t, { inputs });
        r.calls.push((performance.now() - t0) / 1000);
      }
    }
    console.log(`| tiny-sd UNet, batch 2, ${threads} threads | load s | s per call (median of ${runs}) |`);
    console.log('|---|---:|---:|');
    for (const r of rows) console.log(`| ${r.name} | ${r.load!.toFixed(2)} | ${median(r.calls).toFixed(4)} |`);
    await Promise.all(rows.map((r) => r.model!.dispose()));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

void main();
