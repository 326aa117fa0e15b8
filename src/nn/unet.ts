/**
 * The denoiser: a DDPM-style UNet (Ho et al. 2020, appendix B) emitted through the Builder.
 *
 * Inputs: x float [N,C,S,S], t int64 [N]; optional class int64 [N], labels float [N,L],
 * cond float [N,Cc,S,S] (concatenated to x), aug int64 [N] (noise-augmentation level, embedded
 * like t and added to the time embedding). Output: out float [N,C,S,S].
 *
 * Parameter names (stable; the trainer, checkpoints and weight import rely on them):
 *   temb.lin1|lin2, aug_emb.lin1|lin2, class_emb.weight, label_emb.weight, conv_in,
 *   down.<l>.res.<r>.{norm1,conv1,temb_proj,norm2,conv2,skip}, down.<l>.attn.<r>.{norm,qkv,proj},
 *   down.<l>.downsample, mid.res.0, mid.attn, mid.res.1, up.<l>.res.<r> (r < resBlocks + 1),
 *   up.<l>.attn.<r>, up.<l>.ctx, up.<l>.upsample, norm_out, conv_out  (each .weight / .bias).
 * Level l = 0 is the full resolution, in the decoder too. The final conv keeps the default init:
 * zero-init (improved DDPM) would make every other weight's gradient zero at step 0, which
 * turns gradient checks degenerate.
 */
import type { Builder, Value } from '../onnx/builder';
import { silu } from './activations';
import { attentionBlock } from './attention';
import { conv2d } from './conv';
import { classEmbedding, labelEmbedding, timestepMlp } from './embedding';
import { groupNorm, GroupNormFormulation } from './norm';
import type { Recipe } from '../core/recipe';
import { resBlock } from './resblock';
import { downsample, modulate, upsample } from './levels';

export interface UnetOptions {
  /** Emit Dropout nodes (training graphs only; model.onnx for sampling has none). */
  training?: boolean;
  /** GroupNorm formulation (default: the measured fastest, see norm.ts). */
  groupNorm?: GroupNormFormulation;
}

export function buildUnet(b: Builder, recipe: Recipe, opts: UnetOptions = {}): Value {
  const { image, unet, conditioning: cond } = recipe;
  const { size: S, channels: C } = image;
  const L = unet.mults.length;
  if (S % 2 ** (L - 1) !== 0) throw new Error(`buildUnet: image size ${S} is not divisible by 2^(${L}-1) = ${2 ** (L - 1)}`);
  const block = { groups: unet.groups, dropout: unet.dropout, training: opts.training ?? false, scaleShift: unet.scaleShift, norm: opts.groupNorm };
  const tembDim = 4 * unet.base;

  const x = b.input('x', 'float32', ['N', C, S, S]);
  const t = b.input('t', 'int64', ['N']);
  const cls = cond.classes ? b.input('class', 'int64', ['N']) : undefined;
  const labels = cond.labels ? b.input('labels', 'float32', ['N', cond.labels]) : undefined;
  const condImage = cond.condChannels ? b.input('cond', 'float32', ['N', cond.condChannels, S, S]) : undefined;
  const aug = cond.augment ? b.input('aug', 'int64', ['N']) : undefined;

  // time embedding [N, 4 base]; the augmentation level and (unless modulating) the context add to it
  let temb = b.scope('temb', () => timestepMlp(b, t, unet.base, tembDim));
  if (aug) temb = b.add(temb, b.scope('aug_emb', () => timestepMlp(b, aug, unet.base, tembDim)));
  let ctx: Value | undefined;
  if (cls) ctx = b.scope('class_emb', () => classEmbedding(b, cls, cond.classes as number, tembDim));
  if (labels) {
    const e = b.scope('label_emb', () => labelEmbedding(b, labels, tembDim));
    ctx = ctx ? b.add(ctx, e) : e;
  }
  if (ctx && unet.context === 'none') temb = b.add(temb, ctx);
  const tembAct = silu(b, temb);
  const attnAt = (l: number) => unet.attention.includes(S / 2 ** l);

  let h = b.scope('conv_in', () => conv2d(b, condImage ? b.concat([x, condImage], 1) : x, unet.base));
  const skips: Value[] = [h];
  for (let l = 0; l < L; l++) {
    const ch = unet.base * unet.mults[l];
    b.scope('down', () => b.scope(l, () => {
      for (let r = 0; r < unet.resBlocks; r++) {
        h = b.scope('res', () => b.scope(r, () => resBlock(b, h, tembAct, ch, block)));
        if (attnAt(l)) h = b.scope('attn', () => b.scope(r, () => attentionBlock(b, h, unet.heads, unet.groups, opts.groupNorm)));
        skips.push(h);
      }
      if (l < L - 1) {
        h = b.scope('downsample', () => downsample(b, h));
        skips.push(h);
      }
    }));
  }

  const midCh = unet.base * unet.mults[L - 1];
  b.scope('mid', () => {
    h = b.scope('res', () => b.scope(0, () => resBlock(b, h, tembAct, midCh, block)));
    h = b.scope('attn', () => attentionBlock(b, h, unet.heads, unet.groups, opts.groupNorm));
    h = b.scope('res', () => b.scope(1, () => resBlock(b, h, tembAct, midCh, block)));
  });

  for (let l = L - 1; l >= 0; l--) {
    const ch = unet.base * unet.mults[l];
    b.scope('up', () => b.scope(l, () => {
      for (let r = 0; r <= unet.resBlocks; r++) {
        const skip = skips.pop() as Value;
        h = b.scope('res', () => b.scope(r, () => resBlock(b, b.concat([h, skip], 1), tembAct, ch, block)));
        if (attnAt(l)) h = b.scope('attn', () => b.scope(r, () => attentionBlock(b, h, unet.heads, unet.groups, opts.groupNorm)));
      }
      if (ctx && unet.context === 'modulate') {
        const c = ctx;
        h = b.scope('ctx', () => modulate(b, h, c));
      }
      if (l > 0) h = b.scope('upsample', () => upsample(b, h));
    }));
  }

  h = silu(b, b.scope('norm_out', () => groupNorm(b, h, unet.groups, { formulation: opts.groupNorm })));
  h = b.scope('conv_out', () => conv2d(b, h, C));
  return b.output(h, 'out');
}
