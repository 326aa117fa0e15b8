import { DiffusionError } from '../../core/errors';
import type { Builder, Value } from '../../onnx/builder';
import type { Node } from '../../onnx/ir';
import { zerosLike } from '../helpers';
import type { ConvGradOptions } from './conv';

/** Choices among equivalent gradient formulations, passed to every rule (no module globals). */
export interface GradRuleOptions {
  conv: Readonly<ConvGradOptions>;
}

/** What a gradient rule sees of one forward node. */
export interface GradContext {
  node: Node;
  b: Builder;
  /** Gradients of the node's outputs (undefined for outputs not on the path to the target). */
  gy: (Value | undefined)[];
  /** Forward input i. */
  x(i: number): Value;
  /** Forward output i. */
  y(i: number): Value;
  /** Which inputs need a gradient. */
  needs: boolean[];
  options: GradRuleOptions;
}

/** A gradient rule: output gradients -> input gradients, emitted as ONNX ops through the builder. */
export type GradRule = (ctx: GradContext) => (Value | undefined)[];

/** Rejects an attribute variant a rule does not handle, naming op, node and value. */
export function unsupported(ctx: GradContext, what: string): never {
  throw new DiffusionError(`gradient of op '${ctx.node.opType}' (node '${ctx.node.name}'): unsupported ${what}`);
}

/** The gradient of output i, or zeros when that output is not on the path. */
export function gyOrZeros(ctx: GradContext, i: number): Value {
  return ctx.gy[i] ?? zerosLike(ctx.b, ctx.y(i));
}

/** The gradient of output 0 (single-output ops always have it when the rule runs). */
export const gy0 = (ctx: GradContext): Value => gyOrZeros(ctx, 0);
