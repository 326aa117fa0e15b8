/**
 * Encoding a captioned set once, the part Node's caption cache (caption-cache.ts, which keeps the
 * result in RUN/cache/) and the page's trainer (web/sd-trainer.ts, which keeps it in memory)
 * share: every picture through the VAE encoder (the latent MEAN times scaling_factor, see
 * caption-cache.ts), every caption through the text encoder, the empty prompt for caption dropout;
 * then the result as the data set the UNet trains on. Pure: the pictures come from a callback.
 */
import { DiffusionError, FileFormatError } from '../core/errors';
import type { CaptionedItem } from '../data/caption-text';
import type { Dataset } from '../data/dataset';
import type { StableDiffusion } from '../diffusion/sd/pipeline';

/** What the UNet trains on: per picture a latent and a caption embedding, and the empty prompt's. */
export interface EncodedCaptions {
  items: CaptionedItem[];
  /** [C, h, w] of one latent. */
  latentDims: number[];
  /** [L, D] of one embedding. */
  embeddingDims: number[];
  latents: Float32Array;
  embeddings: Float32Array;
  empty: Float32Array;
}

export interface EncodeProgress {
  done: number;
  total: number;
  file: string;
  /** Of the `done` items, how many came from a cache instead of the encoders (the page's IndexedDB cache; 0 in Node, whose cache is all or nothing). */
  reused: number;
}

/** One item's encodings kept from an earlier run: its latent [C, h, w] and caption embedding [L, D]. */
export interface ItemEncoding {
  latent: Float32Array;
  latentDims: number[];
  embedding: Float32Array;
  embeddingDims: number[];
}

/** Encodings a caller already has: `item(i)` for item i (undefined: encode it), `empty` for the empty prompt. */
export interface EncodingReuse {
  item(i: number): ItemEncoding | undefined;
  empty?: Float32Array;
}

/** The UNet's conditioning input in a diffusers export. */
export const TEXT_INPUT = 'encoder_hidden_states';

/**
 * Refuses a caption longer than the text encoder takes (diffusers truncates silently; here nothing
 * of a caption is dropped unseen). `whereOf` names the file the caption came from.
 */
export function checkCaptionLengths(sd: StableDiffusion, items: readonly CaptionedItem[], whereOf: (it: CaptionedItem) => string): void {
  const tok = sd.parts.tokenizer;
  for (const it of items) {
    const { truncated } = tok.encode(it.caption);
    if (truncated > 0) {
      const n = tok.maxLength - 2 + truncated;
      throw new FileFormatError(whereOf(it),
        `the caption of ${it.file} is ${n} tokens; the text encoder takes ${tok.maxLength - 2} (${tok.maxLength} with its start and end tokens): shorten it`);
    }
  }
}

/**
 * Encodes `items` at `resolution` pixels: `pixels(item)` gives a picture as RGB CHW float32 in
 * [-1, 1], resolution x resolution. One picture at a time (a batch of one is what the cache needs
 * and keeps the encoder's memory small).
 */
export async function encodeCaptions(
  sd: StableDiffusion, items: CaptionedItem[], resolution: number, pixels: (it: CaptionedItem) => Promise<Float32Array>,
  onEncode?: (p: EncodeProgress) => void, reuse?: EncodingReuse,
): Promise<EncodedCaptions> {
  const n = items.length;
  let out: EncodedCaptions | undefined;
  let reused = 0;
  for (let i = 0; i < n; i++) {
    const kept = reuse?.item(i);
    if (kept) reused++;
    const lat = kept ? { data: kept.latent, dims: [1, ...kept.latentDims] } : await sd.encodeImages(await pixels(items[i]), 1, resolution, resolution);
    const emb = kept ? { embeddings: kept.embedding, dims: [1, ...kept.embeddingDims] } : await sd.encodePrompt(items[i].caption);
    if (out && (lat.data.length * n !== out.latents.length || emb.embeddings.length * n !== out.embeddings.length)) {
      throw new DiffusionError(`${sd.parts.source}: the encodings of ${items[i].file} differ in size from the first picture's`);
    }
    if (!out) {
      const latentDims = [...lat.dims.slice(1)];
      if (latentDims[1] !== latentDims[2]) {
        throw new DiffusionError(`${sd.parts.source}/vae_encoder/model.onnx: latents of a square picture are [${latentDims.join(', ')}], not square`);
      }
      out = {
        items, latentDims, embeddingDims: [...emb.dims.slice(1)],
        latents: new Float32Array(n * lat.data.length), embeddings: new Float32Array(n * emb.embeddings.length), empty: new Float32Array(0),
      };
    }
    out.latents.set(lat.data, i * lat.data.length);
    out.embeddings.set(emb.embeddings, i * emb.embeddings.length);
    onEncode?.({ done: i + 1, total: n, file: items[i].file, reused });
  }
  if (!out) throw new DiffusionError(`${sd.parts.source}: no captioned pictures to encode`);
  out.empty = reuse?.empty ?? (await sd.encodePrompt('')).embeddings;
  return out;
}

/** The encodings as a data set: latents as its images, embeddings under the UNet's conditioning input. */
export function captionDataset(enc: Pick<EncodedCaptions, 'latentDims' | 'embeddingDims' | 'latents' | 'embeddings'>, n: number, name: string): Dataset {
  const [c, h, w] = enc.latentDims;
  const per = c * h * w;
  const perE = enc.embeddingDims.reduce((p, d) => p * d, 1);
  return {
    name, length: n, channels: c, height: h, width: w,
    image(i: number, out: Float32Array, offset: number): void {
      out.set(enc.latents.subarray(i * per, (i + 1) * per), offset);
    },
    tensors: { [TEXT_INPUT]: [...enc.embeddingDims] },
    tensor(tensor: string, i: number, out: Float32Array, offset: number): void {
      if (tensor !== TEXT_INPUT) throw new DiffusionError(`${name}: no tensor '${tensor}' (it has ${TEXT_INPUT})`);
      out.set(enc.embeddings.subarray(i * perE, (i + 1) * perE), offset);
    },
  };
}

/**
 * The config a pipeline folder's UNet trains with on encoded captions: the latents' shape, the
 * folder's scheduler (as JSON diffusion config) and the embeddings' shape as the conditioning input.
 */
export function captionedUnetConfig(enc: Pick<EncodedCaptions, 'latentDims' | 'embeddingDims'>, diffusion: unknown): Record<string, unknown> {
  const [c, size] = enc.latentDims;
  return { image: { channels: c, size }, diffusion, inputs: { [TEXT_INPUT]: `float32 [N,${enc.embeddingDims.join(',')}]` } };
}

/** The first `k` distinct captions, for a prompt grid. */
export function firstCaptions(items: readonly CaptionedItem[], k: number): string[] {
  return [...new Set(items.map((it) => it.caption))].slice(0, k);
}
