/**
 * The demo page: pick a model.onnx (or open models/default.onnx), sample it with the shared
 * sampler over onnxruntime-web, and watch the images denoise. tools/web/build.ts bundles this
 * with `../../../src/web` left external as ./onnx-diffusion.mjs, as another page would use it.
 *
 * URL parameters: ?threads=N (WASM threads; needs the COOP/COEP server), ?backend=webgpu,
 * ?model=URL. Tests and tools/web/bench.ts drive the page through `window.__demo`.
 */
import {
  Backend, backendOf, createSampler, DiffusionModel, imageToRgba, loadModel, makeGrid, ModelConfig, ModelSource,
  resolveBackend, resolveThreads, RgbaImage, toImageData, webGpuAvailable,
} from '../../../src/web';

interface SampleRequest {
  sampler?: string;
  steps?: number;
  seed?: number;
  n?: number;
  /** A class id, or undefined to cycle through the classes. */
  classes?: number;
  guidance?: number;
  show?: 'x0' | 'x';
  /** false: skip the per-step drawing (for timing). */
  preview?: boolean;
}

interface SampleReport {
  images: { width: number; height: number; rgba: number[] }[];
  /** The samples as floats, NCHW in [-1, 1]. */
  x: number[];
  ms: number;
  steps: number;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  file: $<HTMLInputElement>('file'),
  info: $<HTMLParagraphElement>('model-info'),
  form: $<HTMLFormElement>('form'),
  sampler: $<HTMLSelectElement>('sampler'),
  steps: $<HTMLInputElement>('steps'),
  seed: $<HTMLInputElement>('seed'),
  count: $<HTMLInputElement>('count'),
  classField: $<HTMLLabelElement>('class-field'),
  cls: $<HTMLSelectElement>('class'),
  guidanceField: $<HTMLLabelElement>('guidance-field'),
  guidance: $<HTMLInputElement>('guidance'),
  show: $<HTMLSelectElement>('show'),
  backend: $<HTMLSelectElement>('backend'),
  generate: $<HTMLButtonElement>('generate'),
  cancel: $<HTMLButtonElement>('cancel'),
  download: $<HTMLButtonElement>('download'),
  canvas: $<HTMLCanvasElement>('canvas'),
  bar: $<HTMLDivElement>('bar-fill'),
  progress: $<HTMLParagraphElement>('progress'),
  runtime: $<HTMLElement>('runtime'),
};

const params = new URLSearchParams(location.search);
const threadsParam = params.has('threads') ? Number(params.get('threads')) : undefined;
let model: DiffusionModel | undefined;
let modelSource: { source: ModelSource; name: string } | undefined;
let running: AbortController | undefined;

/** WebGPU is offered only where navigator.gpu gives an adapter (not merely where `navigator.gpu` exists). */
const webGpuOffered = webGpuAvailable().then((ok) => {
  const opt = ui.backend.querySelector<HTMLOptionElement>('option[value="webgpu"]')!;
  opt.disabled = !ok;
  opt.textContent = ok ? 'WebGPU' : 'WebGPU (no adapter)';
  if (params.get('backend') === 'webgpu' && ok) ui.backend.value = 'webgpu';
  return ok;
});

function setStatus(el: HTMLElement, text: string, error = false): void {
  el.textContent = text;
  el.classList.toggle('error', error);
}

function describeRuntime(): string {
  const backend = (model && backendOf(model)) ?? resolveBackend(ui.backend.value as Backend);
  const threads = resolveThreads(threadsParam) ?? Math.min(4, Math.ceil((navigator.hardwareConcurrency || 1) / 2));
  const iso = crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated (one thread; serve with COOP/COEP)';
  return `Backend ${backend.toUpperCase()}${backend === 'wasm' ? `, ${threads} thread${threads === 1 ? '' : 's'}` : ''}; page ${iso}.`;
}

function describeModel(name: string, c: ModelConfig): string {
  const parts = [`${name}: ${c.kind}`, `${c.image.size}×${c.image.size}×${c.image.channels}`];
  if (c.kind === 'gaussian') parts.push(`${c.diffusion.prediction}-prediction, T = ${c.diffusion.timesteps}, ${c.diffusion.schedule}`);
  if (c.parameters) parts.push(`${(c.parameters / 1e6).toFixed(2)}M parameters`);
  if (c.conditioning.classes) parts.push(`${c.conditioning.classes} classes`);
  parts.push(c.training ? `trained ${c.training.step} steps` : 'untrained');
  return parts.join(' · ');
}

/** Shows the class and guidance fields only for models that take them. */
function fitControls(c: ModelConfig): void {
  const classes = c.conditioning.classes;
  ui.classField.hidden = classes === undefined;
  ui.guidanceField.hidden = classes === undefined && c.conditioning.labels === undefined;
  ui.cls.replaceChildren(new Option('all (cycle)', ''));
  for (let k = 0; k < (classes ?? 0); k++) ui.cls.add(new Option(c.classNames?.[k] ?? `class ${k}`, String(k)));
  ui.sampler.disabled = c.kind !== 'gaussian';
}

async function openModel(source: ModelSource, name: string): Promise<ModelConfig> {
  running?.abort();
  ui.generate.disabled = true;
  setStatus(ui.info, `Loading ${name}…`);
  try {
    const next = await loadModel(source, { backend: ui.backend.value as Backend, numThreads: threadsParam });
    await model?.release();
    model = next;
    modelSource = { source, name };
    fitControls(next.config);
    setStatus(ui.info, describeModel(name, next.config));
    ui.generate.disabled = false;
    return next.config;
  } catch (e) {
    setStatus(ui.info, (e as Error).message, true);
    throw e;
  } finally {
    ui.runtime.textContent = describeRuntime();
  }
}

/** Draws the n images as a grid, each tile upscaled to about 96-128 px. */
function draw(images: RgbaImage[]): void {
  const scale = Math.max(1, Math.floor(128 / images[0].width));
  const grid = makeGrid(images, { scale, border: 2, borderColor: [230, 232, 236, 255] });
  if (ui.canvas.width !== grid.width || ui.canvas.height !== grid.height) {
    ui.canvas.width = grid.width;
    ui.canvas.height = grid.height;
  }
  ui.canvas.getContext('2d')!.putImageData(toImageData(grid), 0, 0);
}

const yieldToBrowser = () => new Promise<void>((r) => setTimeout(r, 0));

/** The form's values; class and guidance only where the model shows those fields. */
function readRequest() {
  const c = model!.config;
  return {
    sampler: ui.sampler.value,
    steps: Number(ui.steps.value),
    seed: Number(ui.seed.value),
    n: Number(ui.count.value),
    classes: c.conditioning.classes !== undefined && ui.cls.value !== '' ? Number(ui.cls.value) : undefined,
    guidance: ui.guidanceField.hidden ? undefined : Number(ui.guidance.value),
    show: ui.show.value as 'x0' | 'x',
  };
}

function writeRequest(r: SampleRequest): void {
  if (r.sampler !== undefined) ui.sampler.value = r.sampler;
  if (r.steps !== undefined) ui.steps.value = String(r.steps);
  if (r.seed !== undefined) ui.seed.value = String(r.seed);
  if (r.n !== undefined) ui.count.value = String(r.n);
  if (r.show !== undefined) ui.show.value = r.show;
  ui.cls.value = r.classes === undefined ? '' : String(r.classes);
  if (r.guidance !== undefined) ui.guidance.value = String(r.guidance);
}

async function generate(preview = true): Promise<SampleReport> {
  if (!model) throw new Error('no model loaded');
  running?.abort();
  const req = readRequest();
  const { channels: c, size } = model.config.image;
  // The sampler menu is the gaussian one; toy and cold-blur models take their own (cold-blur all T steps).
  const kind = model.config.kind;
  const sampler = createSampler(model, {
    sampler: kind === 'gaussian' ? req.sampler : undefined, steps: kind === 'cold-blur' ? undefined : req.steps,
    seed: req.seed, classes: req.classes, guidance: req.guidance,
  });
  const controller = new AbortController();
  running = controller;
  ui.generate.disabled = true;
  ui.cancel.disabled = false;
  ui.download.disabled = true;
  setStatus(ui.progress, 'Starting…');
  ui.bar.style.width = '0';
  const blank: RgbaImage = { width: size, height: size, rgba: new Uint8Array(size * size * 4).fill(128) };
  const frames: RgbaImage[] = Array.from({ length: req.n }, () => blank);
  if (preview) draw(frames);
  const t0 = performance.now();
  let done = 0;
  try {
    const result = await sampler.sample(req.n, {
      signal: controller.signal,
      onStep: async (info) => {
        done++;
        const m = info.x.length / (c * size * size);
        const msPerStep = (performance.now() - t0) / done;
        const chunks = Math.ceil(req.n / m);
        const chunk = chunks > 1 ? ` (batch ${Math.floor(info.offset / m) + 1}/${chunks})` : '';
        ui.bar.style.width = `${(100 * done) / (info.total * chunks)}%`;
        setStatus(ui.progress, `Step ${info.step + 1}/${info.total}${chunk} · ${msPerStep.toFixed(1)} ms/step · t = ${info.t}`);
        if (!preview) return;
        const src = req.show === 'x' ? info.x : info.x0;
        for (let i = 0; i < m; i++) frames[info.offset + i] = imageToRgba(src, i, c, size, size);
        draw(frames);
        await yieldToBrowser();
      },
    });
    const ms = performance.now() - t0;
    draw(result.rgba);
    ui.bar.style.width = '100%';
    setStatus(ui.progress, `Done: ${req.n} image${req.n === 1 ? '' : 's'}, ${done} steps in ${(ms / 1000).toFixed(2)} s (${(ms / done).toFixed(1)} ms/step).`);
    ui.download.disabled = false;
    return { images: result.rgba.map((r) => ({ width: r.width, height: r.height, rgba: Array.from(r.rgba) })), x: Array.from(result.images), ms, steps: done };
  } catch (e) {
    setStatus(ui.progress, (e as Error).message, true);
    throw e;
  } finally {
    if (running === controller) running = undefined;
    ui.generate.disabled = false;
    ui.cancel.disabled = true;
  }
}

ui.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  generate().catch(() => undefined);
});
ui.cancel.addEventListener('click', () => running?.abort());
ui.download.addEventListener('click', () => {
  ui.canvas.toBlob((blob) => {
    if (!blob) return;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `samples-${ui.sampler.value}-seed${ui.seed.value}.png`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }, 'image/png');
});
ui.file.addEventListener('change', () => {
  const f = ui.file.files?.[0];
  if (f) openModel(f, f.name).catch(() => undefined);
});
ui.backend.addEventListener('change', () => {
  if (modelSource) openModel(modelSource.source, modelSource.name).catch(() => undefined);
  else ui.runtime.textContent = describeRuntime();
});

/** Opens ?model=URL or models/default.onnx when the server has one. */
async function openDefault(): Promise<void> {
  await webGpuOffered;
  ui.runtime.textContent = describeRuntime();
  const url = params.get('model') ?? 'models/default.onnx';
  const head = await fetch(url, { method: 'HEAD' }).catch(() => undefined);
  if (!head?.ok) return;
  await openModel(url, url.split('/').pop() ?? url).catch(() => undefined);
}

const ready = openDefault();

declare global {
  interface Window {
    __demo: {
      ready: Promise<void>;
      /** Whether the backend menu offers WebGPU (an adapter was found). */
      webGpu: Promise<boolean>;
      load(url: string): Promise<ModelConfig>;
      sample(req: SampleRequest): Promise<SampleReport>;
      cancel(): void;
    };
  }
}

window.__demo = {
  ready,
  webGpu: webGpuOffered,
  load: (url) => openModel(url, url.split('/').pop() ?? url),
  sample: (req) => {
    writeRequest(req);
    return generate(req.preview ?? true);
  },
  cancel: () => running?.abort(),
};
