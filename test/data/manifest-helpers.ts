/** A small manifest data set for tests: n 16px images, each paired with [4, 16] context tokens. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy } from '../../src/data/npy';
import { writeSolid } from './helpers';

/**
 * Writes DIR/img/k.png, DIR/tokens.npy (all images' tokens stacked) and DIR/emb/k.npy (one per
 * image), and DIR/manifest.jsonl pointing at rows of the stacked file for even k and at the
 * per-image files for odd k. Image k's colour and tokens both depend on k, so the tokens carry
 * information about the image.
 */
export async function writeTokenManifest(dir: string, n = 8): Promise<Float32Array> {
  const per = 4 * 16;
  const tokens = Float32Array.from({ length: n * per }, (_, i) => Math.sin(0.37 * i + Math.floor(i / per)));
  mkdirSync(join(dir, 'emb'), { recursive: true });
  writeFileSync(join(dir, 'tokens.npy'), encodeNpy({ dtype: 'float32', shape: [n, 4, 16], data: tokens }));
  const lines: string[] = [];
  for (let k = 0; k < n; k++) {
    await writeSolid(join(dir, 'img', `${k}.png`), 16, 16, [30 * k, 255 - 30 * k, 128]);
    const own = tokens.slice(k * per, (k + 1) * per);
    writeFileSync(join(dir, 'emb', `${k}.npy`), encodeNpy({ dtype: 'float32', shape: [1, 4, 16], data: own }));
    lines.push(JSON.stringify({ image: `img/${k}.png`, encoder_hidden_states: k % 2 === 0 ? `tokens.npy#${k}` : `emb/${k}.npy` }));
  }
  writeFileSync(join(dir, 'manifest.jsonl'), `${lines.join('\n')}\n`);
  return tokens;
}
