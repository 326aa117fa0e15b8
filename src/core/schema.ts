/**
 * The one config checker. Recipes, model metadata, foreign-model configs, cascade and experts files
 * are all validated through a Checker, so every error reads `<source>: <key.path[i]>: <problem>`
 * (e.g. `graphs/x.json: unet.mults[2]: expected a positive integer, got 0`). Pure.
 * Hand-written rather than zod/valibot: see README, "Built on".
 */
import { ConfigError } from './errors';

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as an error message shows it: `0`, `"foo"`, `an array`, `nothing`. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

function joinKey(prefix: string, key: string): string {
  if (!prefix) return key;
  if (!key) return prefix;
  return key.startsWith('[') ? `${prefix}${key}` : `${prefix}.${key}`;
}

/** Checks values at key paths under a source (a file name, joined with ': ') and a key prefix. */
export class Checker {
  constructor(readonly source = '', readonly prefix = '') {}

  /** The full path of `key`, as errors print it. */
  at(key = ''): string {
    const k = joinKey(this.prefix, key);
    if (!this.source) return k;
    return k ? `${this.source}: ${k}` : this.source;
  }

  /** A checker for the value at `key` (keys below it are joined to it). */
  child(key: string): Checker {
    return new Checker(this.source, joinKey(this.prefix, key));
  }

  fail(key: string, problem: string): never {
    throw new ConfigError(this.at(key), problem);
  }

  /** An object; with `keys`, any other key is rejected. `what` says what was expected. */
  object(v: unknown, key: string, keys?: readonly string[], what = 'an object'): Obj {
    if (!isObj(v)) this.fail(key, `expected ${what}, got ${describe(v)}`);
    if (keys) {
      const expected = keys.length === 1 ? keys[0] : `one of ${keys.join(', ')}`;
      for (const k of Object.keys(v)) if (!keys.includes(k)) this.fail(joinKey(key, k), `unknown key (expected ${expected})`);
    }
    return v;
  }

  /** An integer >= min; `positive`/`non-negative` read better than `>= 1`/`>= 0` where a recipe says so. */
  int(v: unknown, key: string, min: number, words?: 'a positive integer' | 'a non-negative integer'): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(key, `expected ${words ?? `an integer >= ${min}`}, got ${describe(v)}`);
    return v;
  }

  posInt(v: unknown, key: string): number {
    return this.int(v, key, 1, 'a positive integer');
  }

  nonNegInt(v: unknown, key: string): number {
    return this.int(v, key, 0, 'a non-negative integer');
  }

  posInts(v: unknown, key: string, allowEmpty: boolean): number[] {
    if (!Array.isArray(v)) this.fail(key, `expected an array of positive integers, got ${describe(v)}`);
    if (!allowEmpty && v.length === 0) this.fail(key, 'expected at least one entry');
    return v.map((e, i) => this.posInt(e, `${key}[${i}]`));
  }

  finite(v: unknown, key: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `expected a finite number, got ${describe(v)}`);
    return v;
  }

  /** A number in an interval written as in math: `[0, 1)`, `(0, 1)`, `[0, 1]`. */
  inRange(v: unknown, key: string, interval: '[0, 1)' | '(0, 1)' | '[0, 1]'): number {
    const ok = typeof v === 'number' && (interval === '[0, 1)' ? v >= 0 && v < 1 : interval === '(0, 1)' ? v > 0 && v < 1 : v >= 0 && v <= 1);
    if (!ok) this.fail(key, `expected a number in ${interval}, got ${describe(v)}`);
    return v as number;
  }

  bool(v: unknown, key: string): boolean {
    if (typeof v !== 'boolean') this.fail(key, `expected true or false, got ${describe(v)}`);
    return v;
  }

  oneOf<T extends string>(v: unknown, key: string, allowed: readonly T[]): T {
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.fail(key, `expected one of ${allowed.join('|')}, got ${describe(v)}`);
    return v as T;
  }

  /** A non-empty string; `what` says what it names. */
  string(v: unknown, key: string, what: string): string {
    if (typeof v !== 'string' || v === '') this.fail(key, `expected ${what}`);
    return v;
  }

  array(v: unknown, key: string, what: string): unknown[] {
    if (!Array.isArray(v) || v.length === 0) this.fail(key, `expected ${what}`);
    return v;
  }
}
