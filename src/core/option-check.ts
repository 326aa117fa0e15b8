/**
 * Options checked at the boundary: one table per public entry (pipeline(), a generator call,
 * createSampler, train(), the page's loaders) says each option's type and range, and
 * `checkOptions` rejects unknown keys (with the nearest known one), type mismatches and values
 * out of range, each as an OptionError naming the option. JavaScript callers get what TypeScript
 * callers get from the types. Isomorphic: no Node API.
 */
import { OptionError } from './errors';

/** One option's rule: its kind, and for numbers the range (inclusive unless `gt`). */
export type OptionRule =
  | { kind: 'number' | 'integer'; min?: number; max?: number; gt?: number }
  | { kind: 'string'; oneOf?: readonly string[] }
  | { kind: 'boolean' | 'function' | 'object' | 'any' }
  | { kind: 'signal' }
  /** A number, or an array of them (class ids, labels). */
  | { kind: 'numbers'; integer?: boolean; min?: number; max?: number }
  /** Typed arrays or plain arrays of numbers. */
  | { kind: 'array-like' };

export type OptionSpec = Readonly<Record<string, OptionRule>>;

/** Edit distance (insert, delete, substitute, swap of neighbours), for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known name nearest to `name`, when it is near enough to be a typo (at most a third of it wrong). */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = distance(name, k);
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/** ` (did you mean `steps`?)` or the list of known names. */
export function suggest(name: string, known: readonly string[]): string {
  const near = nearest(name, known);
  return near ? `; did you mean \`${near}\`?` : `; known: ${known.join(', ')}`;
}

const describe = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `[${v.slice(0, 8).join(', ')}${v.length > 8 ? ', ...' : ''}]` : v === null ? 'null' : typeof v === 'object' ? (v.constructor?.name ?? 'an object') : String(v);

function checkNumber(option: string, v: unknown, integer: boolean, min?: number, max?: number, gt?: number): void {
  const what = integer ? 'an integer' : 'a number';
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new OptionError(option, `must be ${what}${range(min, max, gt)}, got ${describe(v)}${typeof v === 'string' ? ` (a ${typeof v})` : ''}`);
  }
  if ((min !== undefined && v < min) || (max !== undefined && v > max) || (gt !== undefined && v <= gt)) {
    throw new OptionError(option, `must be${range(min, max, gt)}, got ${v}`);
  }
}

function range(min?: number, max?: number, gt?: number): string {
  if (gt !== undefined) return ` > ${gt}`;
  if (min !== undefined && max !== undefined) return ` in [${min}, ${max}]`;
  if (min !== undefined) return ` >= ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return '';
}

/** One value against its rule; `option` names it in the error. */
export function checkOption(option: string, v: unknown, rule: OptionRule): void {
  if (v === undefined) return;
  switch (rule.kind) {
    case 'number':
    case 'integer':
      return checkNumber(option, v, rule.kind === 'integer', rule.min, rule.max, rule.gt);
    case 'string':
      if (typeof v !== 'string') throw new OptionError(option, `must be a string${rule.oneOf ? ` (${rule.oneOf.join('|')})` : ''}, got ${describe(v)}`);
      if (rule.oneOf && !rule.oneOf.includes(v)) throw new OptionError(option, `must be one of ${rule.oneOf.join('|')}, got "${v}"${suggest(v, rule.oneOf).replace(/; known: .*/, '')}`);
      return;
    case 'boolean':
    case 'function':
      if (typeof v !== rule.kind) throw new OptionError(option, `must be a ${rule.kind}, got ${describe(v)}`);
      return;
    case 'object':
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new OptionError(option, `must be an object, got ${describe(v)}`);
      return;
    case 'signal':
      if (typeof v !== 'object' || v === null || typeof (v as { aborted?: unknown }).aborted !== 'boolean') {
        throw new OptionError(option, `must be an AbortSignal, got ${describe(v)}`);
      }
      return;
    case 'numbers': {
      const list = typeof v === 'number' ? [v] : Array.isArray(v) || ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<unknown>) : undefined;
      if (!list) throw new OptionError(option, `must be a number or an array of numbers, got ${describe(v)}`);
      list.forEach((x) => checkNumber(option, x, rule.integer ?? false, rule.min, rule.max));
      return;
    }
    case 'array-like':
      if (!(ArrayBuffer.isView(v) || Array.isArray(v))) throw new OptionError(option, `must be an array or a typed array, got ${describe(v)}`);
      return;
    case 'any':
      return;
  }
}

/**
 * Checks `options` (of the entry named `entry`, e.g. 'pipeline()') against `spec`: it must be an
 * object, every key known, every value of its rule's kind and range.
 */
export function checkOptions(options: unknown, spec: OptionSpec, entry: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptionError('options', `of ${entry} must be an object, got ${describe(options)}`);
  }
  const known = Object.keys(spec);
  for (const [key, v] of Object.entries(options)) {
    const rule = spec[key];
    if (!rule) throw new OptionError(key, `is not an option of ${entry}${suggest(key, known)}`);
    checkOption(key, v, rule);
  }
}
