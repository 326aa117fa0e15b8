/**
 * float16 Stable Diffusion figures (docs/stable-diffusion.md, "float16 exports").
 *
 *   node --import tsx tools/bench-sd-fp16.ts [--steps 25] [--runs 3]
 *     the tiny-sd fixture as float32, and converted to float16 (test/sd/half-export.ts) run upcast
 *     (precision float32, the CPU default) and as exported (precision float16): seconds per image,
 *     interleaved runs, median.
 *   node --import tsx tools/bench-sd-fp16.ts --convert UNET_DIR OUT_DIR
 *     writes a float16 copy of a float32 UNet folder (model.onnx + weights.pb), e.g. $EXPORTS/sd15-unet.
 *   node --import tsx tools/bench-sd-fp16.ts --convert-folder SD_DIR FP16_UNET_DIR OUT_DIR
 *     a float16 pipeline folder: SD_DIR's text encoder and VAE converted, FP16_UNET_DIR as its unet/
 *     (linked), the rest linked.
 *   node --import tsx tools/bench-sd-fp16.ts --sample DIR [--latent 32] [--steps 2]
 *     one guided image from a pipeline folder (the CPU default precision): load and sampling seconds.
 *   node --import tsx tools/bench-sd-fp16.ts --upcast MODEL.onnx
 *     the upcast of a float16 model as pipelines make it (streamed to a temporary weights.pb when
 *     large), then an ORT session from it: seconds and peak RSS (run under /usr/bin/time -v).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeNpy, npyToFloat32 } from '../src/data/npy';
import { float32Session, upcastModelFile } from '../src/runtime/float32-session';
import { sessionOptions } from '../src/runtime/node';
import { loadStableDiffusion } from '../src/runtime/sd';
import { readModelFiles, encodeModelToFiles } from '../src/runtime/model-files';
import { halfGraph, writeHalfFolder } from '../test/sd/half-export';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rss = () => `${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`;

async function bench(): Promise<void> {
  const steps = Number(flag('--steps') ?? 25);
  const runs = Number(flag('--runs') ?? 3);
  const src = path.join(__dirname, '..', 'test', 'fixtures', 'tiny-sd');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-fp16-'));
  try {
    writeHalfFolder(src, path.join(tmp, 'fp16'));
    const latents = npyToFloat32(decodeNpy(fs.readFileSync(path.join(src, 'reference', 'latents_init.npy'))));
    const call = { prompt: 'a red shoe', steps, guidance: 7.5, latents, height: 128, width: 128 };
    const rows = [
      { name: 'tiny-sd float32', dir: src, precision: undefined },
      { name: 'tiny-sd float16, upcast (precision float32, the CPU default)', dir: path.join(tmp, 'fp16'), precision: 'float32' as const },
      { name: 'tiny-sd float16, as exported (precision float16)', dir: path.join(tmp, 'fp16'), precision: 'float16' as const },
    ];
    const gens = [];
    for (const r of rows) {
      const t0 = performance.now();
      const gen = await loadStableDiffusion(r.dir, { threads: os.availableParallelism(), precision: r.precision });
      await gen(call);
      gens.push({ ...r, gen, load: (performance.now() - t0) / 1000, times: [] as number[] });
    }
    for (let k = 0; k < runs; k++) {
      for (const g of gens) {
        const t0 = performance.now();
        await g.gen(call);
        g.times.push((performance.now() - t0) / 1000);
      }
    }
    console.log(`| folder | steps | s/image (median of ${runs}) | best | load + first image s |`);
    console.log('| --- | --- | --- | --- | --- |');
    for (const g of gens) {
      const t = [...g.times].sort((a, b) => a - b);
      console.log(`| ${g.name} | ${steps} | ${t[Math.floor(t.length / 2)].toFixed(2)} | ${t[0].toFixed(2)} | ${g.load.toFixed(2)} |`);
      await g.gen.release();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const convert = flag('--convert');
  const upcast = flag('--upcast');
  const folder = flag('--convert-folder');
  const sampleDir = flag('--sample');
  if (folder) {
    const [unet, out] = args.slice(args.indexOf('--convert-folder') + 2);
    fs.mkdirSync(out, { recursive: true });
    for (const e of fs.readdirSync(folder)) {
      if (e === 'unet') fs.symlinkSync(path.resolve(unet), path.join(out, e));
      else if (!['text_encoder', 'vae_encoder', 'vae_decoder'].includes(e)) fs.symlinkSync(path.resolve(folder, e), path.join(out, e));
      else {
        fs.mkdirSync(path.join(out, e));
        for (const f of fs.readdirSync(path.join(folder, e))) if (f.endsWith('.json')) fs.copyFileSync(path.join(folder, e, f), path.join(out, e, f));
        const model = readModelFiles(path.join(folder, e, 'model.onnx'));
        model.graph = halfGraph(model.graph);
        encodeModelToFiles(model, path.join(out, e, 'model.onnx'), { externalData: false });
        console.log(`${e}: converted, rss ${rss()}`);
      }
    }
  } else if (sampleDir) {
    const latent = Number(flag('--latent') ?? 32);
    const steps = Number(flag('--steps') ?? 2);
    let t0 = performance.now();
    const gen = await loadStableDiffusion(sampleDir, { threads: os.availableParallelism() });
    console.log(`load: ${((performance.now() - t0) / 1000).toFixed(1)} s, rss ${rss()}`);
    t0 = performance.now();
    const r = await gen({ prompt: 'a red shoe', steps, guidance: 7.5, seed: 1, height: latent * gen.sd.parts.vaeScaleFactor, width: latent * gen.sd.parts.vaeScaleFactor });
    const s = (performance.now() - t0) / 1000;
    console.log(`sample: ${s.toFixed(1)} s for ${steps} guided steps at ${latent}x${latent} latents (${r.w}x${r.h} image), rss ${rss()}`);
    await gen.release();
  } else if (convert) {
    const out = args[args.indexOf('--convert') + 2];
    const t0 = performance.now();
    const model = readModelFiles(path.join(convert, 'model.onnx'));
    const graph = halfGraph(model.graph, { float32Cone: ['timestep'] });
    model.graph = graph;
    fs.mkdirSync(out, { recursive: true });
    encodeModelToFiles(model, path.join(out, 'model.onnx'), { externalData: true, location: 'weights.pb' });
    console.log(`wrote ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s, rss ${rss()}`);
  } else if (upcast) {
    let t0 = performance.now();
    const up = upcastModelFile(upcast)!;
    const gib = (up.report.float16Bytes / 2 ** 30).toFixed(2);
    console.log(`upcast: ${((performance.now() - t0) / 1000).toFixed(1)} s, ${up.report.tensors} tensors, ${gib} GiB float16, `
      + `${up.dir ? 'streamed to a temporary weights.pb' : 'inline'}, rss ${rss()}`);
    if (up.dir) fs.rmSync(up.dir, { recursive: true, force: true });
    t0 = performance.now();
    const s = await float32Session(upcast, undefined, sessionOptions({}));
    console.log(`upcast + session: ${((performance.now() - t0) / 1000).toFixed(1)} s, rss ${rss()}`);
    await s?.release();
  } else {
    await bench();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
