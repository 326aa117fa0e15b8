/** The tiny-sd fixture (test/fixtures/tiny-sd) as training data for its UNet, shared by the tiny-sd training tests. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNpy, encodeNpy, npyToFloat32 } from '../../src/data/npy';
import { fixture } from './paths';

export const TINY_SD = fixture('tiny-sd');

/** One of the fixture's torch reference arrays (reference/NAME.npy) as float32. */
export const tinySdRef = (name: string): Float32Array => npyToFloat32(decodeNpy(readFileSync(join(TINY_SD, 'reference', `${name}.npy`))));

/**
 * Writes a manifest of two latents (the fixture's training latents and half its initial noise), with
 * the prompt's and the empty prompt's embeddings, into `dir`: manifest.jsonl, latents.npy, emb.npy.
 */
export function writeTinySdManifest(dir: string): void {
  const latents = new Float32Array(2 * 4 * 16 * 16);
  latents.set(tinySdRef('train_latents'));
  latents.set(tinySdRef('latents_init').map((v) => v * 0.5), 4 * 16 * 16);
  const emb = new Float32Array(2 * 77 * 32);
  emb.set(tinySdRef('text_embeddings_cond'));
  emb.set(tinySdRef('text_embeddings_uncond'), 77 * 32);
  writeFileSync(join(dir, 'latents.npy'), encodeNpy({ dtype: 'float32', shape: [2, 4, 16, 16], data: latents }));
  writeFileSync(join(dir, 'emb.npy'), encodeNpy({ dtype: 'float32', shape: [2, 77, 32], data: emb }));
  writeFileSync(join(dir, 'manifest.jsonl'), [0, 1].map((i) => JSON.stringify({ sample: `latents.npy#${i}`, encoder_hidden_states: `emb.npy#${i}` })).join('\n'));
}
