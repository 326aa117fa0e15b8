/**
 * The fine-tuning page: pick the shipped model (or upload a model.onnx, with a config for a foreign
 * export), add images (files, or a class of the bundled Fashion-MNIST sample), fine-tune N steps
 * with `createTrainer` while the loss curve grows, see EMA samples every K steps, and download
 * the fine-tuned model.onnx. Built by tools/web/build.ts beside the sampler demo; tests drive it
 * through `window.__train`. URL parameters: ?threads=N, ?backend=webgpu.
 */
import {
  Backend, createSampler, createTrainer, decodeModel, imageDataset, ImageInput, loadModel, makeGrid, ModelConfig, resolveThreads, toImageData, Trainer,
} from '../../../src/web';
import { drawLossCurve } from './loss-plot';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  modelPick: $<HTMLSelectElement>('model-pick'),
  uploadField: $<HTMLLabelElement>('upload-field'),
  modelFile: $<HTMLInputElement>('model-file'),
  configFile: $<HTMLInputElement>('config-file'),
  info: $<HTMLParagraphElement>('model-info'),
  sampleClass: $<HTMLSelectElement>('sample-class'),
  sampleCount: $<HTMLInputElement>('sample-count'),
  imageFiles: $<HTMLInputElement>('image-files'),
  addSample: $<HTMLButtonElement>('add-sample'),
  clear: $<HTMLButtonElement>('clear'),
  dataInfo: $<HTMLSpanElement>('data-info'),
  thumbs: $<HTMLDivElement>('thumbs'),
  form: $<HTMLFormElement>('form'),
  steps: $<HTMLInputElement>('steps'),
  batch: $<HTMLInputElement>('batch'),
  lr: $<HTMLInputElement>('lr'),
  sampleEvery: $<HTMLInputElement>('sample-every'),
  seed: $<HTMLInputElement>('seed'),
  train: $<HTMLButtonElement>('train'),
  cancel: $<HTMLButtonElement>('cancel'),
  download: $<HTMLButtonElement>('download'),
  loss: $<HTMLCanvasElement>('loss'),
  samples: $<HTMLCanvasElement>('samples'),
  samplesCaption: $<HTMLElement>('samples-caption'),
  bar: $<HTMLDivElement>('bar-fill'),
  progress: $<HTMLParagraphElement>('progress'),
  runtime: $<HTMLElement>('runtime'),
};

const params = new URLSearchParams(location.search);
const runtime = { numThreads: params.has('threads') ? Number(params.get('threads')) : undefined, backend: (params.get('backend') ?? 'wasm') as Backend };

interface SampleData { classes: string[]; perClass: number; width: number; height: number; pixels: Uint8Array }
let sampleData: SampleData | undefined;
let model: { bytes: Uint8Array; name: string; config?: unknown; info: ModelConfig } | undefined;
let images: { image: ImageInput; label: number }[] = [];
let trainer: Trainer | undefined;
let trainerKey = '';
let running: AbortController | undefined;
/** The loss curve since the model was opened, over every run. */
let losses: number[] = [];
/** Steps of the trainers before the current one: each later run continues from the weights they left. */
let stepsBefore = 0;
/** Their raw weights, as model.onnx: where the next trainer starts. */
let fineTuned: Uint8Array | undefined;
/** The sample grid: images and DDIM steps (tests ask for fewer). */
const preview = { n: 8, steps: 20 };

function setStatus(el: HTMLElement, text: string, error = false): void {
  el.textContent = text;
  el.classList.toggle('error', error);
}

async function loadSampleData(): Promise<void> {
  const meta = await (await fetch('data/fashion-mnist-sample.json')).json() as Omit<SampleData, 'pixels'>;
  const pixels = new Uint8Array(await (await fetch('data/fashion-mnist-sample.bin')).arrayBuffer());
  sampleData = { ...meta, pixels };
  ui.sampleClass.replaceChildren(...meta.classes.map((c, k) => new Option(c, String(k))));
  ui.sampleClass.value = '8';
}

async function openModel(bytes: Uint8Array, name: string, config?: unknown): Promise<void> {
  running?.abort();
  await trainer?.dispose();
  trainer = undefined;
  losses = [];
  stepsBefore = 0;
  fineTuned = undefined;
  drawLoss();
  try {
    // The metadata alone, to show what it is; the trainer reads the model again when training starts.
    const m = decodeModel(bytes, name);
    const info = (config ?? JSON.parse(m.metadata['onnx-diffusion'] ?? 'null')) as ModelConfig | null;
    if (!info) throw new Error(`${name}: the model carries no onnx-diffusion metadata; choose its config JSON too`);
    model = { bytes, name, config, info };
    const c = info.image;
    setStatus(ui.info, `${name}: ${c.size}×${c.size}×${c.channels}${info.training ? ` · trained ${info.training.step} steps` : ''}`);
  } catch (e) {
    model = undefined;
    setStatus(ui.info, (e as Error).message, true);
  }
  refresh();
}

function refresh(): void {
  ui.dataInfo.textContent = images.length === 0 ? 'No images.' : `${images.length} image${images.length === 1 ? '' : 's'}.`;
  ui.train.disabled = !model || images.length === 0 || running !== undefined;
  ui.download.disabled = !trainer || trainer.stepCount === 0 || running !== undefined;
}

function thumb(image: ImageData): void {
  const c = document.createElement('canvas');
  [c.width, c.height] = [image.width, image.height];
  c.getContext('2d')!.putImageData(image, 0, 0);
  ui.thumbs.append(c);
}

function addSampleImages(cls: number, count: number): void {
  if (!sampleData) return;
  const { width: w, height: h, perClass } = sampleData;
  for (let k = 0; k < Math.min(count, perClass); k++) {
    const img = new ImageData(w, h);
    const off = (cls * perClass + k) * w * h;
    for (let p = 0; p < w * h; p++) {
      const v = sampleData.pixels[off + p];
      img.data.set([v, v, v, 255], 4 * p);
    }
    images.push({ image: img, label: cls });
    thumb(img);
  }
  refresh();
}

async function addFiles(files: FileList): Promise<void> {
  for (const f of Array.from(files)) {
    images.push({ image: f, label: Number(ui.sampleClass.value) });
    const bmp = await createImageBitmap(f);
    const c = document.createElement('canvas');
    [c.width, c.height] = [bmp.width, bmp.height];
    c.getContext('2d')!.drawImage(bmp, 0, 0);
    ui.thumbs.append(c);
  }
  refresh();
}

function drawLoss(): void {
  drawLossCurve(ui.loss, losses);
}

async function drawSamples(t: Trainer, step: number): Promise<void> {
  const m = await loadModel(t.exportModel(), runtime);
  try {
    const cls = t.config.conditioning.classes !== undefined ? Number(ui.sampleClass.value) : undefined;
    const res = await createSampler(m, { sampler: 'ddim', steps: preview.steps, seed: 0, classes: cls }).sample(preview.n);
    const grid = makeGrid(res.rgba, { scale: Math.max(1, Math.round(48 / res.rgba[0].width)), border: 2, cols: 4, borderColor: [230, 232, 236, 255] });
    [ui.samples.width, ui.samples.height] = [grid.width, grid.height];
    ui.samples.getContext('2d')!.putImageData(toImageData(grid), 0, 0);
    ui.samplesCaption.textContent = `samples after ${step} steps (EMA weights, DDIM ${preview.steps} steps, seed 0)`;
  } finally {
    await m.release();
  }
}

interface RunRequest { steps?: number; batch?: number; lr?: number; sampleEvery?: number; seed?: number; sampleImages?: number; sampleSteps?: number }
interface RunReport {
  /** This run's losses and steps. */
  losses: number[];
  steps: number;
  stopped: string;
  msPerStep: number;
  /** Steps since the model was opened at which samples were drawn. */
  sampledAt: number[];
  /** The whole loss curve since the model was opened. */
  history: number[];
}

async function run(req: RunRequest = {}): Promise<RunReport> {
  if (!model || images.length === 0) throw new Error('choose a model and add images first');
  if (req.steps !== undefined) ui.steps.value = String(req.steps);
  if (req.batch !== undefined) ui.batch.value = String(req.batch);
  if (req.lr !== undefined) ui.lr.value = String(req.lr);
  if (req.sampleEvery !== undefined) ui.sampleEvery.value = String(req.sampleEvery);
  if (req.seed !== undefined) ui.seed.value = String(req.seed);
  preview.n = req.sampleImages ?? preview.n;
  preview.steps = req.sampleSteps ?? preview.steps;
  const steps = Number(ui.steps.value);
  const every = Number(ui.sampleEvery.value);
  const opts = { steps, batch: Number(ui.batch.value), lr: Number(ui.lr.value), seed: Number(ui.seed.value), ...runtime };
  const controller = new AbortController();
  running = controller;
  refresh();
  ui.cancel.disabled = false;
  const sampledAt: number[] = [];
  let ms = 0;
  try {
    // The same settings continue an unfinished run. Otherwise a new trainer (its schedule, batch and
    // seed are fixed when it is built) starts from the weights the last one left, not the model's:
    // a second click fine-tunes further. Only opening another model starts over.
    const key = JSON.stringify([model.name, images.length, opts]);
    if (!trainer || key !== trainerKey || trainer.stepCount >= trainer.totalSteps) {
      if (trainer) {
        fineTuned = trainer.exportModel({ ema: false });
        stepsBefore += trainer.stepCount;
        await trainer.dispose();
        trainer = undefined;
      }
      setStatus(ui.progress, 'Building the training step graph…');
      // An export carries the model's config in its metadata.
      trainer = await createTrainer(fineTuned ?? model.bytes, fineTuned ? undefined : model.config, { ...opts, name: model.name });
      trainerKey = key;
    }
    const t = trainer;
    const { channels, size } = t.config.image;
    const conditional = t.config.conditioning.classes !== undefined;
    const data = await imageDataset(images.map((i) => i.image), { channels, size, labels: conditional ? images.map((i) => i.label) : undefined });
    setStatus(ui.progress, `Training: ${t.parameters.toLocaleString()} parameters, batch ${t.batch}, step graph about ${(t.memory.bytes / 2 ** 20).toFixed(0)} MiB.`);
    const first = t.stepCount;
    let stopped = 'done';
    while (t.stepCount < t.totalSteps && stopped === 'done') {
      const chunk = every > 0 ? every - (t.stepCount % every) : t.totalSteps;
      const r = await t.fit(data, {
        steps: chunk,
        signal: controller.signal,
        onStep: (s) => {
          ms += s.ms;
          losses.push(s.loss);
          ui.bar.style.width = `${(100 * s.step) / s.totalSteps}%`;
          const [step, of] = [stepsBefore + s.step, stepsBefore + s.totalSteps];
          setStatus(ui.progress, `Step ${step}/${of} · loss ${s.loss.toFixed(4)} · lr ${s.lr.toExponential(1)} · ${s.ms.toFixed(0)} ms/step`);
          drawLoss();
        },
      });
      stopped = r.stopped;
      if (every > 0 && t.stepCount % every === 0 || t.stepCount === t.totalSteps) {
        await drawSamples(t, stepsBefore + t.stepCount);
        sampledAt.push(stepsBefore + t.stepCount);
      }
      await new Promise((r) => setTimeout(r, 0));
    }
    const done = t.stepCount - first;
    const msPerStep = (ms / Math.max(1, done)).toFixed(0);
    const total = stepsBefore + t.stepCount;
    setStatus(ui.progress, `${stopped === 'interrupted' ? 'Cancelled' : 'Done'}: ${total} steps (${msPerStep} ms/step). Download the model or train on.`);
    return { losses: losses.slice(losses.length - done), steps: done, stopped, msPerStep: ms / Math.max(1, done), sampledAt, history: [...losses] };
  } catch (e) {
    setStatus(ui.progress, (e as Error).message, true);
    throw e;
  } finally {
    running = undefined;
    ui.cancel.disabled = true;
    refresh();
  }
}

function download(): void {
  if (!trainer) return;
  const blob = new Blob([trainer.exportModel() as BlobPart], { type: 'application/octet-stream' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'model.onnx';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

ui.modelPick.addEventListener('change', () => {
  ui.uploadField.hidden = ui.modelPick.value !== 'upload';
  if (ui.modelPick.value !== 'upload') openShipped().catch(() => undefined);
});
const openUpload = async () => {
  const f = ui.modelFile.files?.[0];
  if (!f) return;
  const cf = ui.configFile.files?.[0];
  await openModel(new Uint8Array(await f.arrayBuffer()), f.name, cf ? JSON.parse(await cf.text()) : undefined);
};
ui.modelFile.addEventListener('change', () => void openUpload());
ui.configFile.addEventListener('change', () => void openUpload());
ui.addSample.addEventListener('click', () => addSampleImages(Number(ui.sampleClass.value), Number(ui.sampleCount.value)));
ui.imageFiles.addEventListener('change', () => {
  if (ui.imageFiles.files) addFiles(ui.imageFiles.files).catch((e: Error) => setStatus(ui.progress, e.message, true));
});
ui.clear.addEventListener('click', () => {
  images = [];
  ui.thumbs.replaceChildren();
  refresh();
});
ui.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  run().catch(() => undefined);
});
ui.cancel.addEventListener('click', () => running?.abort());
ui.download.addEventListener('click', download);

async function openShipped(): Promise<void> {
  const url = ui.modelPick.value;
  const res = await fetch(url);
  if (!res.ok) return setStatus(ui.info, `${url}: HTTP ${res.status}`, true);
  await openModel(new Uint8Array(await res.arrayBuffer()), url.split('/').pop() ?? url);
}

const threads = resolveThreads(runtime.numThreads) ?? Math.min(4, Math.ceil((navigator.hardwareConcurrency || 1) / 2));
const threadText = runtime.backend === 'wasm' ? `, ${threads} thread${threads === 1 ? '' : 's'}` : '';
const isolation = crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated (one thread)';
ui.runtime.textContent = `Backend ${runtime.backend.toUpperCase()}${threadText}; page ${isolation}.`;
const ready = Promise.all([loadSampleData(), openShipped()]).then(() => undefined);

declare global {
  interface Window {
    __train: {
      ready: Promise<void>;
      addSample(cls: number, count: number): void;
      run(req?: RunRequest): Promise<RunReport>;
      cancel(): void;
      /** The fine-tuned model.onnx (EMA weights unless `ema` is false), base64 (a number[] of megabytes crawls through the DevTools protocol). */
      exportModel(ema?: boolean): string;
      /** The loss curve since the model was opened. */
      history(): number[];
    };
  }
}

window.__train = {
  ready,
  addSample: addSampleImages,
  run,
  cancel: () => running?.abort(),
  history: () => [...losses],
  exportModel: (ema = true) => {
    const bytes = trainer?.exportModel({ ema }) ?? new Uint8Array(0);
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  },
};
