/**
 * Fine-tuning a diffusers ONNX pipeline folder from captioned pictures in the page: the web
 * entry's `createTrainer(folderUrl, { data, lora })`, Node's `train --init DIR --data
 * captions:FOLDER [--lora R]` in a tab. The same steps as Node (train/captioned.ts):
 *   1. the pictures and captions listed and checked (web/captioned-data.ts, the rules of captions:DIR);
 *   2. each picture through the VAE encoder and each caption through the text encoder once, in
 *      memory (train/caption-encode.ts, the code Node's caption cache runs), and with `cache` kept in
 *      IndexedDB for the next trainer on the same pictures (web/encoding-cache.ts);
 *   3. the UNet, read with its weights by URL, set up from the same config (train/setup-from-model.ts),
 *      LoRA inserted by the same applyLora, and trained by the page Trainer: the one TrainingRun over
 *      the one step-graph builder, caption dropout feeding the empty prompt's embedding.
 * The result: `exportAdapter()` (adapter.safetensors for Node's or the page's `pipeline(dir, { lora })`),
 * `exportUnet()` (unet/model.onnx), and `pipeline()` to sample with the trained weights in the page.
 */
import { diffusionConfigFromScheduler } from '../core/diffusers-config';
import { DiffusionError, OptionError } from '../core/errors';
import type { LoraSpec } from '../core/model-config';
import type { Dataset } from '../data/dataset';
import { openStableDiffusion, withUnopenedUnet } from '../diffusion/sd/load';
import type { SdOrt, StableDiffusion } from '../diffusion/sd/pipeline';
import { adapterFrom, decodeAdapter, encodeAdapter, LORA_TRAINABLE, mergeLora } from '../nn/lora';
import type { Model } from '../onnx/ir';
import { encodeModel } from '../onnx/proto';
import { Tensor } from '../onnx/tensor';
import {
  captionDataset, captionedUnetConfig, checkCaptionLengths, encodeCaptions, type EncodedCaptions, type EncodeProgress, TEXT_INPUT,
} from '../train/caption-encode';
import { applyLora } from '../train/lora-setup';
import { setupFromModel } from '../train/setup-from-model';
import { captionedPixels, type CaptionedSource, listCaptionedData } from './captioned-data';
import { type OrtWeb, openRuntime } from './runtime';
import { folderUrl, pipelineWithUnet, readFolderModel, webFolder, type WebStableDiffusionPipeline } from './sd';
import { upcastModel } from '../onnx/upcast';
import { hashingFolder, openEncodingCache } from './encoding-cache';
import { type ExportOptions, type FitOptions, type FitResult, openTrainer, positiveInteger, type Trainer, type TrainStepReport, type WebTrainerOptions } from './trainer';

/** The batch of a captioned run when none is given, as Node's (small: every picture is a full UNet pass). */
const DEFAULT_BATCH = 4;

/** Options of `createTrainer(folderUrl, options)`: Node's captioned-training options, named as in `train()`. */
export interface SdTrainerOptions extends Omit<WebTrainerOptions, 'flip' | 'trainable' | 'tRange' | 'name'> {
  /** The captioned pictures: a folder URL holding a metadata.jsonl, or the File objects a user dropped. */
  data: CaptionedSource;
  /** Train LoRA adapters of this rank (or {rank, alpha, targets}) instead of the whole UNet. */
  lora?: number | { rank: number; alpha?: number; targets?: string };
  /** Training size in pixels (default: unet/config.json's sample_size times the VAE's factor). */
  resolution?: number;
  /** Called after each picture is encoded or taken from the cache (`reused` counts those). */
  onEncode?: (p: EncodeProgress) => void;
  /**
   * Keep the encodings in IndexedDB and reuse them (web/encoding-cache.ts): `true` for the default
   * cache, a string for a named one (`clearEncodingCache(name)` deletes it). Default off: a page
   * decides whether data derived from its users' pictures stays in their browser.
   */
  cache?: boolean | string;
  /** Called with a one-line warning (the cache could not be used); default console.warn. */
  onWarning?: (message: string) => void;
}

/** A Stable Diffusion UNet training in the page on encoded captioned pictures. Create it with `createTrainer(folderUrl, options)`. */
export class SdTrainer {
  /** @internal */
  constructor(
    private readonly trainer: Trainer, private readonly sd: StableDiffusion, readonly url: string, readonly data: Dataset,
    readonly encoded: EncodedCaptions, private readonly base: Model, private readonly lora: LoraSpec | undefined,
    private readonly ort: OrtWeb, private readonly options: SdTrainerOptions, private readonly reused: number,
  ) {}

  get stepCount(): number { return this.trainer.stepCount; }
  get losses(): number[] { return this.trainer.losses; }
  get totalSteps(): number { return this.trainer.totalSteps; }
  get batch(): number { return this.trainer.batch; }
  /** The height and width a `pipeline()` call takes for latents of the trained size (the folder's VAE factor times the latent size). */
  get sampleSize(): number { return this.encoded.latentDims[1] * this.sd.parts.vaeScaleFactor; }
  /** How many pictures the encoders ran on when the trainer was made, and how many came from the cache. */
  get encodings(): { encoded: number; reused: number } { return { encoded: this.data.length - this.reused, reused: this.reused }; }

  /** One step on the next batch of the encoded pictures (the seeded order Node draws). */
  async step(): Promise<TrainStepReport> {
    let report: TrainStepReport | undefined;
    await this.trainer.fit(this.data, { steps: 1, onStep: (r) => { report = r; } });
    if (!report) throw new DiffusionError(`step: the run is done (${this.totalSteps} steps planned)`);
    return report;
  }

  /** Trains until `o.steps` more steps, the planned total, or `o.signal` aborts (checked between steps). */
  fit(o: FitOptions = {}): Promise<FitResult> {
    return this.trainer.fit(this.data, o);
  }

  /** The run's state (weights, moments, step, Rng, batch cursor) as bytes; `loadState` continues it exactly. */
  saveState(): Uint8Array { return this.trainer.saveState(); }
  loadState(bytes: Uint8Array): void { this.trainer.loadState(bytes, this.data); }

  /** adapter.safetensors of a LoRA run (EMA weights by default, what Node writes): Node's and the page's `pipeline(dir, { lora })` load it. */
  exportAdapter(o: ExportOptions = {}): Uint8Array {
    if (!this.lora) throw new DiffusionError('exportAdapter: this run trains the whole UNet (no `lora`); use exportUnet()');
    const { layout, values } = this.trainer.trained(o.ema ?? true);
    const slots = new Map(layout.slots.map((s) => [s.name, s]));
    return encodeAdapter(adapterFrom(this.lora, (name) => {
      const s = slots.get(name)!;
      return new Tensor('float32', [...s.dims], values.slice(s.offset, s.offset + s.size));
    }));
  }

  /** unet/model.onnx with the trained weights (a LoRA run's adapters merged in), weights inline: a folder's UNet. */
  exportUnet(o: ExportOptions = {}): Uint8Array {
    if (!this.lora) return this.trainer.exportModel(o);
    return encodeModel(mergeLora(this.base, decodeAdapter(this.exportAdapter(o), 'adapter', this.base.graph)));
  }

  /** A text-to-image pipeline with the trained UNet (the folder's tokenizer, text encoder and VAE): call it with { prompt, ... }. */
  pipeline(o: ExportOptions = {}): Promise<WebStableDiffusionPipeline> {
    return pipelineWithUnet(this.sd, this.url, this.ort, this.exportUnet(o), this.options);
  }

  /** Frees the step session and the folder's sessions. */
  async dispose(): Promise<void> {
    await this.trainer.dispose();
    await this.sd.release();
  }
}

function loraOption(lora: SdTrainerOptions['lora']): { rank: number; alpha?: number; targets?: string } | undefined {
  if (lora === undefined) return undefined;
  const spec = typeof lora === 'number' ? { rank: lora } : lora;
  positiveInteger('lora', spec.rank);
  return spec;
}

/** The training size: the option, else unet/config.json's sample_size times the VAE's factor. */
function resolutionOf(sd: StableDiffusion, o: SdTrainerOptions): number {
  if (o.resolution !== undefined) return positiveInteger('resolution', o.resolution);
  const p = sd.parts;
  if (p.sampleSize === undefined) {
    throw new OptionError('resolution',
      `is needed: ${p.source} has no unet/config.json sample_size; give the training size in pixels (e.g. 512: the UNet's latent size times the VAE's factor)`);
  }
  return p.sampleSize * p.vaeScaleFactor;
}

/**
 * A trainer for the diffusers ONNX pipeline folder at `url` on captioned pictures (`options.data`):
 * lists and checks the pictures, opens the folder, encodes every picture and caption once, reads
 * the UNet's weights, and builds the training step in the page.
 */
export async function createSdTrainer(url: string | URL, options: SdTrainerOptions): Promise<SdTrainer> {
  if (typeof options !== 'object' || options === null || options.data === undefined) {
    throw new OptionError('data', 'is needed: a folder URL with a metadata.jsonl, or the dropped File objects (pictures with .txt captions)');
  }
  const base = folderUrl(url);
  const { cache } = options;
  if (cache !== undefined && typeof cache !== 'boolean' && (typeof cache !== 'string' || cache === '')) {
    throw new OptionError('cache', `expected true, false or a cache name (a non-empty string), got ${JSON.stringify(cache)}`);
  }
  const set = await listCaptionedData(options.data);
  // Every picture decodes before a session is made: a bad file is named in a second.
  for (const it of set.items) await captionedPixels(set, it, 8);
  const lora = loraOption(options.lora);
  const n = set.items.length;
  const batch = positiveInteger('batch', options.batch ?? Math.min(DEFAULT_BATCH, n));
  if (batch > n) throw new OptionError('batch', `${batch}: larger than the data set ${set.name} (${n} pictures)`);
  const { ort, sessionOptions } = await openRuntime(options);
  const plainFolder = webFolder(base, sessionOptions, ort);
  // Hashing the encoder files only when a cache is asked for (about 630 MB at SD-1.5 size).
  const hashing = cache ? hashingFolder(plainFolder, base) : undefined;
  const folder = hashing ?? plainFolder;
  const unet = upcastModel(await readFolderModel(folder, 'unet/model.onnx')); // a float16 UNet trains its float32 copy, as in Node
  const source = `${folder.source}/unet/model.onnx`;
  const sd = await openStableDiffusion(withUnopenedUnet(folder, unet), ort as unknown as SdOrt);
  try {
    const resolution = resolutionOf(sd, options);
    checkCaptionLengths(sd, set.items, (it) => set.captionSource(it));
    const store = cache ? await openEncodingCache(
      typeof cache === 'string' ? cache : undefined, () => hashing!.identity(), sd, set, resolution,
      options.onWarning ?? ((m) => console.warn(m)),
    ) : undefined;
    let reused = 0;
    const onEncode = (p: EncodeProgress) => { reused = p.reused; options.onEncode?.(p); };
    const enc = await encodeCaptions(sd, set.items, resolution, (it) => captionedPixels(set, it, resolution), onEncode, store?.reuse);
    hashing?.release();
    await store?.save(enc);
    const config = captionedUnetConfig(enc, diffusionConfigFromScheduler(sd.parts.schedulerConfig, sd.parts.schedulerSource));
    const plain = setupFromModel(unet, source, config, { configName: `${sd.parts.source} config`, batch });
    const { setup, lora: spec } = applyLora(plain, { lora, seed: options.seed });
    const nulls = { [TEXT_INPUT]: enc.empty };
    const trainer = await openTrainer(setup, source, { ...options, batch }, { batch, trainable: spec ? LORA_TRAINABLE : undefined, nulls });
    return new SdTrainer(trainer, sd, base, captionDataset(enc, n, `captions:${set.name}`), enc, plain.model, spec, ort, options, reused);
  } catch (e) {
    await sd.release();
    throw e;
  }
}
