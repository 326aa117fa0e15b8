/**
 * Model recipes (graphs/*.json): what buildModel builds. Pure (no Node imports); validation fails
 * with a ConfigError naming the file and key path, e.g. `graphs/x.json: unet.mults[2]: ...`.
 */
import { checkDiffusionConfig, DiffusionConfig, DiffusionKind, KINDS } from './diffusion-config';
import { Checker, describe } from './schema';

export interface UnetRecipe {
  /** Channels of the first level. */
  base: number;
  /** Level l has base * mults[l] channels and resolution size / 2^l. */
  mults: number[];
  /** Residual blocks per encoder level (the decoder has one more, for the extra skip). */
  resBlocks: number;
  /** Resolutions (pixels) with self-attention after each residual block; mid always has one. */
  attention: number[];
  heads: number;
  groups: number;
  dropout: number;
  /** Time embedding as FiLM scale-shift after norm2 (improved DDPM) instead of an addition. */
  scaleShift: boolean;
  /** 'modulate': the class/label embedding multiplies decoder features instead of adding to temb. */
  context: 'none' | 'modulate';
}

export interface ConditioningRecipe {
  classes?: number;
  /** Training: probability of replacing the class (or labels) by the null one (CFG). */
  nullClassDropout?: number;
  labels?: number;
  condChannels?: number;
  lowResSize?: number;
  augment?: boolean;
}

export interface Recipe {
  description?: string;
  kind: DiffusionKind;
  image: { channels: number; size: number };
  unet: UnetRecipe;
  conditioning: ConditioningRecipe;
  diffusion: DiffusionConfig;
  seed: number;
}

const TOP_KEYS = ['description', 'kind', 'image', 'unet', 'conditioning', 'diffusion', 'seed'] as const;
const UNET_KEYS = ['base', 'mults', 'resBlocks', 'attention', 'heads', 'groups', 'dropout', 'scaleShift', 'context'] as const;
const COND_KEYS = ['classes', 'nullClassDropout', 'labels', 'condChannels', 'lowResSize', 'augment'] as const;

/** Resolutions of the UNet levels: size, size/2, ... (one per entry of mults). */
export function levelResolutions(r: Pick<Recipe, 'image' | 'unet'>): number[] {
  return r.unet.mults.map((_, l) => r.image.size / 2 ** l);
}

/**
 * Checks a parsed recipe, fills defaults (kind gaussian, attention [], heads 1, groups 8,
 * dropout 0, scaleShift false, context none, seed 0, diffusion defaults) and checks that the pieces
 * fit: size divisible by 2^(levels-1), channels by groups and heads, attention at level resolutions.
 * `source` (usually the file name) prefixes every error.
 */
export function validateRecipe(obj: unknown, source = ''): Recipe {
  const c = new Checker(source);
  const o = c.object(obj, '', TOP_KEYS);
  if (o.description !== undefined && typeof o.description !== 'string') c.fail('description', `expected a string, got ${describe(o.description)}`);
  const kind = o.kind === undefined ? 'gaussian' : c.oneOf(o.kind, 'kind', KINDS);
  const img = c.object(o.image, 'image', ['channels', 'size']);
  const image = { channels: c.posInt(img.channels, 'image.channels'), size: c.posInt(img.size, 'image.size') };

  const u = c.object(o.unet, 'unet', UNET_KEYS);
  const unet: UnetRecipe = {
    base: c.posInt(u.base, 'unet.base'),
    mults: c.posInts(u.mults, 'unet.mults', false),
    resBlocks: c.posInt(u.resBlocks, 'unet.resBlocks'),
    attention: u.attention === undefined ? [] : c.posInts(u.attention, 'unet.attention', true),
    heads: u.heads === undefined ? 1 : c.posInt(u.heads, 'unet.heads'),
    groups: u.groups === undefined ? 8 : c.posInt(u.groups, 'unet.groups'),
    dropout: u.dropout === undefined ? 0 : c.inRange(u.dropout, 'unet.dropout', '[0, 1)'),
    scaleShift: u.scaleShift === undefined ? false : c.bool(u.scaleShift, 'unet.scaleShift'),
    context: u.context === undefined ? 'none' : c.oneOf(u.context, 'unet.context', ['none', 'modulate'] as const),
  };
  const levels = unet.mults.length;
  if (image.size % 2 ** (levels - 1) !== 0) {
    c.fail('unet.mults', `${levels} levels halve the image ${levels - 1} times, so image.size must be divisible by ${2 ** (levels - 1)}, got ${image.size}`);
  }
  const resolutions = unet.mults.map((_, l) => image.size / 2 ** l);
  unet.mults.forEach((m, l) => {
    const ch = unet.base * m;
    if (ch % unet.groups !== 0) c.fail('unet.groups', `level ${l} has ${ch} channels (base ${unet.base} x mults[${l}] ${m}), not divisible by ${unet.groups} groups`);
  });
  if (unet.base % unet.groups !== 0) c.fail('unet.groups', `base ${unet.base} is not divisible by ${unet.groups} groups`);
  unet.attention.forEach((res, i) => {
    const l = resolutions.indexOf(res);
    if (l < 0) c.fail(`unet.attention[${i}]`, `${res} is not a level resolution (levels: ${resolutions.join(', ')})`);
    const ch = unet.base * unet.mults[l];
    if (ch % unet.heads !== 0) c.fail('unet.heads', `${ch} channels at resolution ${res} are not divisible by ${unet.heads} heads`);
  });
  const midCh = unet.base * unet.mults[levels - 1];
  if (midCh % unet.heads !== 0) c.fail('unet.heads', `${midCh} channels of the middle block are not divisible by ${unet.heads} heads`);

  const cd = o.conditioning === undefined ? {} : c.object(o.conditioning, 'conditioning', COND_KEYS);
  const conditioning: ConditioningRecipe = {};
  if (cd.classes !== undefined) conditioning.classes = c.posInt(cd.classes, 'conditioning.classes');
  if (cd.labels !== undefined) conditioning.labels = c.posInt(cd.labels, 'conditioning.labels');
  if (cd.nullClassDropout !== undefined) {
    conditioning.nullClassDropout = c.inRange(cd.nullClassDropout, 'conditioning.nullClassDropout', '[0, 1)');
    if (!conditioning.classes && !conditioning.labels) c.fail('conditioning.nullClassDropout', 'needs conditioning.classes or conditioning.labels');
  }
  if (cd.condChannels !== undefined) conditioning.condChannels = c.posInt(cd.condChannels, 'conditioning.condChannels');
  if (cd.lowResSize !== undefined) {
    conditioning.lowResSize = c.posInt(cd.lowResSize, 'conditioning.lowResSize');
    if (!conditioning.condChannels) c.fail('conditioning.lowResSize', 'needs conditioning.condChannels (the upsampled low-resolution image is the cond input)');
    if (conditioning.lowResSize >= image.size) c.fail('conditioning.lowResSize', `expected less than image.size ${image.size}, got ${conditioning.lowResSize}`);
  }
  if (cd.augment !== undefined) {
    conditioning.augment = c.bool(cd.augment, 'conditioning.augment');
    if (conditioning.augment && !conditioning.condChannels) c.fail('conditioning.augment', 'needs conditioning.condChannels (it augments the cond image)');
  }
  if (unet.context === 'modulate' && !conditioning.classes && !conditioning.labels) {
    c.fail('unet.context', "'modulate' needs conditioning.classes or conditioning.labels");
  }

  const diffusion = checkDiffusionConfig(c.child('diffusion'), o.diffusion);
  if (kind !== 'gaussian' && diffusion.prediction !== 'x0') c.fail('diffusion.prediction', `kind ${kind} needs prediction x0, got ${diffusion.prediction}`);
  const seed = o.seed === undefined ? 0 : c.nonNegInt(o.seed, 'seed');
  const recipe: Recipe = { kind, image, unet, conditioning, diffusion, seed };
  if (typeof o.description === 'string') recipe.description = o.description;
  return recipe;
}
