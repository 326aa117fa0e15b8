/**
 * The LoRA page (lora.html): a Stable Diffusion ONNX folder URL, captioned pictures as a data
 * folder URL (with metadata.jsonl) or dropped files, then `createTrainer(folderUrl, { data, lora })`
 * encodes them once and trains the UNet's adapters while the loss curve grows; afterwards a prompt
 * samples with the adapter and adapter.safetensors downloads. Built by tools/web/build.ts; tests
 * click through it (test/web/lora-page.test.ts). URL parameters: ?threads=N.
 */
import { clearEncodingCache, createTrainer, type SdTrainer, toImageData } from '../../../src/web';
import { drawLossCurve } from './loss-plot';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const num = (id: string): number | undefined => ($<HTMLInputElement>(id).value.trim() === '' ? undefined : Number($<HTMLInputElement>(id).value));
const ui = {
  train: $<HTMLButtonElement>('train'),
  cancel: $<HTMLButtonElement>('cancel'),
  sample: $<HTMLButtonElement>('sample'),
  download: $<HTMLButtonElement>('download'),
  files: $<HTMLInputElement>('data-files'),
  drop: $<HTMLDivElement>('drop'),
  loss: $<HTMLCanvasElement>('loss'),
  image: $<HTMLCanvasElement>('image'),
  bar: $<HTMLDivElement>('bar-fill'),
  progress: $<HTMLParagraphElement>('progress'),
};
const params = new URLSearchParams(location.search);
const numThreads = params.has('threads') ? Number(params.get('threads')) : undefined;

let trainer: SdTrainer | undefined;
let running: AbortController | undefined;
/** Files dropped on the page (or picked), used when the data URL is empty. */
let dropped: File[] = [];

function status(text: string, error = false, done?: number): void {
  ui.progress.textContent = text;
  ui.progress.classList.toggle('error', error);
  if (done !== undefined) ui.bar.style.width = `${Math.round(done * 100)}%`;
}

function refresh(): void {
  const idle = running === undefined;
  ui.train.disabled = !idle;
  ui.cancel.disabled = idle;
  ui.sample.disabled = !idle || !trainer || trainer.stepCount === 0;
  ui.download.disabled = ui.sample.disabled;
}

function setFiles(files: FileList | null): void {
  dropped = files ? [...files] : [];
  status(`${dropped.length} files: ${dropped.filter((f) => f.type.startsWith('image/')).length} pictures.`);
}

async function train(): Promise<void> {
  await trainer?.dispose();
  trainer = undefined;
  const url = $<HTMLInputElement>('data-url').value.trim();
  const data = url !== '' ? url : dropped;
  running = new AbortController();
  refresh();
  try {
    status('Opening the pipeline and encoding the pictures…', false, 0);
    const steps = num('steps');
    trainer = await createTrainer($<HTMLInputElement>('pipeline-url').value.trim(), {
      data, lora: num('rank'), steps, batch: num('batch'), lr: num('lr'), resolution: num('resolution'), condDropout: num('cond-dropout'),
      seed: num('seed'), numThreads, cache: $<HTMLInputElement>('cache').checked,
      onEncode: (p) => status(`Encoded ${p.done}/${p.total} (${p.reused} kept from before): ${p.file}`, false, p.done / p.total),
    });
    const t = trainer;
    const r = await t.fit({
      signal: running.signal,
      onStep: (s) => {
        status(`step ${s.step}/${s.totalSteps} · loss ${s.loss.toFixed(4)} · ${s.ms.toFixed(0)} ms`, false, s.step / s.totalSteps);
        drawLossCurve(ui.loss, t.losses);
      },
    });
    status(`${r.stopped === 'done' ? 'Done' : 'Stopped'}: ${t.stepCount} steps, last loss ${t.losses.at(-1)?.toFixed(4)}.`);
  } catch (e) {
    status((e as Error).message, true);
  } finally {
    running = undefined;
    refresh();
  }
}

async function sample(): Promise<void> {
  if (!trainer) return;
  running = new AbortController();
  refresh();
  let gen: Awaited<ReturnType<SdTrainer['pipeline']>> | undefined;
  try {
    gen = await trainer.pipeline();
    const size = num('size') ?? trainer.sampleSize;
    const prompt = $<HTMLInputElement>('prompt').value;
    const steps = num('sample-steps') ?? 25;
    const r = await gen({ prompt, steps, height: size, width: size, onStep: (s) => status(`sampling ${s.step + 1}/${s.total}`, false, (s.step + 1) / s.total) });
    const img = r.rgba[0];
    ui.image.width = img.width;
    ui.image.height = img.height;
    ui.image.getContext('2d')!.putImageData(toImageData(img), 0, 0);
    status(`Sampled '${prompt}' (${steps} steps, ${img.width}x${img.height}).`);
  } catch (e) {
    status((e as Error).message, true);
  } finally {
    await gen?.dispose();
    running = undefined;
    refresh();
  }
}

function download(): void {
  if (!trainer) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([trainer.exportAdapter() as BlobPart], { type: 'application/octet-stream' }));
  a.download = 'adapter.safetensors';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

ui.train.addEventListener('click', () => void train());
ui.cancel.addEventListener('click', () => running?.abort());
ui.sample.addEventListener('click', () => void sample());
ui.download.addEventListener('click', download);
$<HTMLButtonElement>('clear-cache').addEventListener('click', () => {
  clearEncodingCache().then(() => status('Kept encodings forgotten.'), (e: Error) => status(e.message, true));
});
ui.files.addEventListener('change', () => setFiles(ui.files.files));
ui.drop.addEventListener('dragover', (e) => { e.preventDefault(); ui.drop.classList.add('over'); });
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (e) => {
  e.preventDefault();
  ui.drop.classList.remove('over');
  setFiles(e.dataTransfer?.files ?? null);
});
refresh();
