/**
 * What a recipe will cost before anything is allocated: parameter count and activations per
 * image, estimated from the recipe's numbers the way unet.ts builds the network. A recipe that
 * cannot fit (an ONNX file holds at most 2 GiB; memory the machine has) is refused naming the key
 * that makes it too large. Pure: the caller passes the memory available.
 */
import { ConfigError } from '../core/errors';
import type { Recipe } from '../core/recipe';

/** protobuf caps one message, hence one ONNX file without external data, at 2 GiB. */
export const ONNX_MAX_BYTES = 2 ** 31;

export interface RecipeSize {
  params: number;
  /** Nodes of the forward graph (a training step graph has about 4 times as many). */
  nodes: number;
  /** float32 values of the forward activations of one image (the backward pass keeps about as many). */
  activationsPerImage: number;
}

export function estimateRecipe(r: Recipe): RecipeSize {
  const { base, mults, resBlocks, attention, heads, scaleShift } = r.unet;
  const C = r.image.channels;
  const S = r.image.size;
  const cc = r.conditioning ?? {};
  const tdim = 4 * base;
  const conv = (i: number, o: number, k = 3) => k * k * i * o + o;
  const res = (i: number, o: number) => conv(i, o) + conv(o, o) + (tdim + 1) * (scaleShift ? 2 : 1) * o + (i !== o ? conv(i, o, 1) : 0) + 4 * (i + o);
  const attn = (c: number) => 4 * c * c + 4 * c + 2 * c;
  let params = 2 * (base * tdim + tdim * tdim + 2 * tdim) * (cc.augment ? 2 : 1);
  params += ((cc.classes ?? -1) + 1) * tdim + (cc.labels ?? 0) * tdim;
  params += conv(C + (cc.condChannels ?? 0), base) + conv(base, C);
  let act = (C + (cc.condChannels ?? 0) + base) * S * S;
  // Node counts measured on built graphs (unet-tiny variants, 2026-12-03): about 38 per ResBlock
  // (43 with scale-shift), 30 per attention block, 5 per level, 56 more (embeddings, mid attention, ends).
  const perRes = scaleShift ? 43 : 38;
  let nodes = 56 + 5 * mults.length + 2 * perRes;
  const chans: number[] = [base];
  let ch = base;
  const level = (l: number, i: number, o: number) => {
    const s = S / 2 ** l;
    params += res(i, o);
    nodes += perRes;
    act += 10 * o * s * s;
    if (attention.includes(s)) {
      nodes += 30;
      params += attn(o);
      act += 8 * o * s * s + 2 * heads * s ** 4;
    }
  };
  mults.forEach((m, l) => {
    for (let k = 0; k < resBlocks; k++) {
      level(l, ch, base * m);
      ch = base * m;
      chans.push(ch);
    }
    if (l < mults.length - 1) chans.push(ch);
  });
  const mid = base * mults[mults.length - 1];
  params += 2 * res(mid, mid) + attn(mid);
  act += 30 * mid * (S / 2 ** (mults.length - 1)) ** 2;
  for (let l = mults.length - 1; l >= 0; l--) {
    for (let k = 0; k <= resBlocks; k++) {
      level(l, ch + (chans.pop() ?? 0), base * mults[l]);
      ch = base * mults[l];
    }
  }
  return { params, nodes, activationsPerImage: act };
}

export interface Budget {
  /** Images processed at once (training batch or sampling batch); 0 to check the model alone. */
  batch: number;
  /** Bytes of float32 per parameter held at once (model.onnx alone: about 4 copies; training adds m, v, EMA, gradients). */
  copies: number;
  /** Multiplier on the activations (3 for a training step: forward kept for backward, and gradients). */
  activationFactor: number;
  /** Memory the machine has for this, in bytes (Infinity in a browser). */
  available: number;
  /** How the batch is set, for the message: '--batch', '--n'. */
  batchFlag?: string;
}

function bytes(s: RecipeSize, b: Budget): { params: number; activations: number } {
  return { params: s.params * 4 * b.copies, activations: s.activationsPerImage * 4 * b.activationFactor * b.batch };
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(n < 2 ** 30 ? 2 : 1)} GiB`;

/** The recipe keys that size a model, with a modest reference value each (to find the one that makes it too big). */
const KEYS: [string, (r: Recipe) => number, (r: Recipe, v: number) => Recipe][] = [
  ['unet.base', (r) => r.unet.base, (r, v) => ({ ...r, unet: { ...r.unet, base: v } })],
  ['image.channels', (r) => r.image.channels, (r, v) => ({ ...r, image: { ...r.image, channels: v } })],
  ['image.size', (r) => r.image.size, (r, v) => ({ ...r, image: { ...r.image, size: v }, unet: { ...r.unet, attention: r.unet.attention.map((a) => (a * v) / r.image.size) } })],
  ['conditioning.classes', (r) => r.conditioning?.classes ?? 0, (r, v) => ({ ...r, conditioning: { ...r.conditioning, classes: r.conditioning?.classes === undefined ? undefined : v } })],
  ['conditioning.labels', (r) => r.conditioning?.labels ?? 0, (r, v) => ({ ...r, conditioning: { ...r.conditioning, labels: r.conditioning?.labels === undefined ? undefined : v } })],
  ['conditioning.condChannels', (r) => r.conditioning?.condChannels ?? 0, (r, v) => ({ ...r, conditioning: { ...r.conditioning, condChannels: r.conditioning?.condChannels === undefined ? undefined : v } })],
  ['unet.resBlocks', (r) => r.unet.resBlocks, (r, v) => ({ ...r, unet: { ...r.unet, resBlocks: v } })],
  ['unet.mults', (r) => Math.max(...r.unet.mults), (r) => ({ ...r, unet: { ...r.unet, mults: r.unet.mults.map(() => 1) } })],
];
const REFERENCE: Record<string, number> = { 'unet.base': 32, 'image.channels': 3, 'image.size': 32, 'conditioning.classes': 10, 'conditioning.labels': 10, 'conditioning.condChannels': 3, 'unet.resBlocks': 1, 'unet.mults': 1 };

/** The key whose reduction to a modest value shrinks `cost` the most. */
function culprit(r: Recipe, cost: (r: Recipe) => number): string {
  let best = 'unet.base';
  let bestCost = Infinity;
  for (const [key, get, set] of KEYS) {
    if (get(r) <= REFERENCE[key]) continue;
    const c = cost(set(r, REFERENCE[key]));
    if (c < bestCost) [best, bestCost] = [key, c];
  }
  return best;
}

function valueOf(r: Recipe, key: string): string {
  const k = KEYS.find(([name]) => name === key);
  return key === 'unet.mults' ? JSON.stringify(r.unet.mults) : String(k ? k[1](r) : '?');
}

/** Image and condition channels: images have 1-4, latents 4-16; more is a mistake, and a slow one. */
export const MAX_CHANNELS = 64;
/** Forward-graph nodes built in reasonable time: 7 times the largest shipped recipe (unet-sr-64-128, 1,408). */
export const MAX_NODES = 10_000;

/**
 * Refuses, before anything is built, a recipe whose graph would take minutes to build and
 * train on (resBlocks 200 without attention is about 36,000 nodes; channels 1e6 is a 1 GB
 * first convolution), naming the key.
 */
function checkRecipeWork(r: Recipe, at: (key: string) => string): void {
  for (const [key, v] of [['image.channels', r.image.channels], ['conditioning.condChannels', r.conditioning?.condChannels ?? 0]] as const) {
    if (v > MAX_CHANNELS) {
      throw new ConfigError(at(key), `${v} channels is more than the ${MAX_CHANNELS} a recipe may have (images have 1 to 4, latents 4 to 16)`);
    }
  }
  const { nodes } = estimateRecipe(r);
  if (nodes > MAX_NODES) {
    const key = r.unet.resBlocks > 2 || r.unet.mults.length <= 4 ? 'unet.resBlocks' : 'unet.mults';
    const n = (x: number) => x.toLocaleString('en-US');
    throw new ConfigError(at(key), `${valueOf(r, key)} gives a network of about ${n(nodes)} nodes, over the ${n(MAX_NODES)} this builds and trains in reasonable time (fewer resBlocks or levels)`);
  }
}

/**
 * Refuses a recipe whose model cannot be saved (over 2 GiB of weights) or whose parameters and
 * `budget.batch` images of activations exceed the memory available; names the key (or batch flag).
 */
export function checkRecipeBudget(r: Recipe, where: string, budget: Budget = { batch: 0, copies: 4, activationFactor: 1, available: Infinity }): void {
  const at = (key: string) => (where ? `${where}: ${key}` : key);
  checkRecipeWork(r, at);
  const size = estimateRecipe(r);
  if (!(size.params * 4 < ONNX_MAX_BYTES)) {
    const key = culprit(r, (x) => estimateRecipe(x).params);
    throw new ConfigError(at(key), `${valueOf(r, key)} gives a model of about ${size.params.toExponential(2)} parameters (${gib(size.params * 4)}); an ONNX file holds at most 2 GiB`);
  }
  const need = bytes(size, budget);
  const total = need.params + need.activations;
  if (!(total <= budget.available)) {
    const what = budget.batch > 0 ? ` at ${budget.batch} images at once` : '';
    const msg = `needs about ${gib(total)}${what}, more than the ${gib(budget.available)} of memory available`;
    const key = culprit(r, (x) => {
      const n = bytes(estimateRecipe(x), budget);
      return n.params + n.activations;
    });
    if (budget.batchFlag && need.activations > need.params) {
      const fit = Math.max(0, Math.floor((budget.available - need.params) / Math.max(1, need.activations / budget.batch)));
      const big = estimateRecipe(KEYS.find(([k]) => k === key)![2](r, REFERENCE[key])).activationsPerImage * 10 < size.activationsPerImage;
      throw new ConfigError(`${budget.batchFlag} ${budget.batch}`, `${msg} (about ${fit} would fit${big ? `; ${at(key)} ${valueOf(r, key)} makes each image large` : ''})`);
    }
    throw new ConfigError(at(key), `${valueOf(r, key)}: the model ${msg}`);
  }
}
