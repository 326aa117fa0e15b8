/**
 * Conditioning inputs of any name: a foreign denoiser's inputs other than `x` and `t`
 * (`encoder_hidden_states`, `context`, `y`, ...), described by name, dtype, shape and meaning.
 * They live in ModelConfig.conditioning.inputs and so in the metadata of every model.onnx we write.
 * Pure; no Node imports.
 */
import { Checker, isObj } from './schema';

/** What an input means: a class id, a float vector, a sequence of token embeddings, an image. */
export type CondKind = 'class' | 'vector' | 'tokens' | 'image';
export const COND_KINDS: readonly CondKind[] = ['class', 'vector', 'tokens', 'image'];

/** One conditioning input. The first dim is the batch ('N'); other string dims are free sizes. */
export interface CondInput {
  name: string;
  dtype: 'float32' | 'int64';
  shape: (number | string)[];
  kind: CondKind;
  /**
   * The "null" condition that conditioning dropout trains and guidance contrasts with: every
   * element set to this value (default 0; for a class id input, the model's null class).
   */
  nullValue?: number;
}

/** Names our own models use; they are described by the other conditioning keys. */
export const BUILTIN_INPUTS: readonly string[] = ['x', 't', 'class', 'labels', 'cond', 'aug'];

/** The kind a shape suggests when the config does not say: int ids, [N, D], [N, L, D], [N, C, H, W]. */
export function inferKind(dtype: CondInput['dtype'], shape: readonly (number | string)[]): CondKind {
  if (dtype === 'int64') return 'class';
  return shape.length <= 2 ? 'vector' : shape.length === 3 ? 'tokens' : 'image';
}

/** Parses the informal form of fixture configs: `"float32 [N,4,16], context tokens"`. */
function parseSpec(c: Checker, key: string, s: string): { dtype: string; shape: (number | string)[] } {
  const m = /^\s*(\w+)\s*\[([^\]]*)\]/.exec(s);
  if (!m) c.fail(key, `expected "dtype [N,d1,...]" (e.g. "float32 [N,4,16]"), got ${JSON.stringify(s)}`);
  const shape = m[2].split(',').map((d) => d.trim()).filter((d) => d !== '').map((d) => (/^\d+$/.test(d) ? Number(d) : d));
  return { dtype: m[1], shape };
}

/** One input description, as an object {name?, dtype, shape, kind?, nullValue?} or a spec string. */
export function checkCondInput(c: Checker, key: string, name: string, v: unknown): CondInput {
  let dtype: unknown;
  let shape: unknown;
  let kind: unknown;
  let nullValue: unknown;
  if (typeof v === 'string') ({ dtype, shape } = parseSpec(c, key, v));
  else {
    const o = c.object(v, key, ['name', 'dtype', 'shape', 'kind', 'nullValue', 'about'], '{dtype, shape, kind}');
    ({ dtype, shape, kind, nullValue } = o);
  }
  const dt = c.oneOf(dtype === 'float' ? 'float32' : dtype, `${key}.dtype`, ['float32', 'int64'] as const);
  if (!Array.isArray(shape) || shape.length === 0) c.fail(`${key}.shape`, 'expected an array of dims with the batch first, e.g. ["N", 4, 16]');
  const dims = shape.map((d, i) => (typeof d === 'string' && d !== '' ? d : c.posInt(d, `${key}.shape[${i}]`)));
  if (typeof dims[0] !== 'string') c.fail(`${key}.shape[0]`, `expected the batch dim "N", got ${dims[0]}`);
  dims[0] = 'N';
  const input: CondInput = { name, dtype: dt, shape: dims, kind: kind === undefined ? inferKind(dt, dims) : c.oneOf(kind, `${key}.kind`, COND_KINDS) };
  if (nullValue !== undefined) input.nullValue = c.finite(nullValue, `${key}.nullValue`);
  return input;
}

/**
 * The conditioning inputs of a config: `conditioning.inputs` (an array of descriptions) and, for
 * foreign-model configs, the informal `inputs` map of the fixture files for names that are not
 * built in (x, t, class, labels, cond, aug) or a role's (`roleInputs`: sample, timestep, ...).
 */
export function checkCondInputs(c: Checker, conditioning: unknown, informal: unknown, roleInputs: readonly string[] = []): CondInput[] | undefined {
  const out: CondInput[] = [];
  const list = isObj(conditioning) ? conditioning.inputs : undefined;
  if (list !== undefined) {
    if (!Array.isArray(list)) c.fail('conditioning.inputs', 'expected an array of {name, dtype, shape, kind}');
    list.forEach((v, i) => {
      const key = `conditioning.inputs[${i}]`;
      const name = c.string(isObj(v) ? v.name : undefined, `${key}.name`, 'the input name');
      if (BUILTIN_INPUTS.includes(name)) c.fail(`${key}.name`, `'${name}' is a built-in input; describe it with its own key`);
      if (out.some((o) => o.name === name)) c.fail(`${key}.name`, `'${name}' is described twice`);
      out.push(checkCondInput(c, key, name, v));
    });
  }
  if (isObj(informal)) {
    for (const [name, v] of Object.entries(informal)) {
      if (BUILTIN_INPUTS.includes(name) || roleInputs.includes(name) || out.some((o) => o.name === name)) continue;
      out.push(checkCondInput(c, `inputs.${name}`, name, v));
    }
  }
  return out.length > 0 ? out : undefined;
}

/** Values per image: the product of the dims after the batch; free (string) dims count as undefined. */
export function perImageSize(input: CondInput): number | undefined {
  let n = 1;
  for (const d of input.shape.slice(1)) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

/** `--input name=FILE.npy`: how the CLI takes an input, for error messages. */
export function howToGive(name: string): string {
  return `give it with --input ${name}=FILE.npy (library: inputs.${name})`;
}

/**
 * The dims of `length` values of `input` for a batch of n: its shape with the batch and at most one
 * free dim filled in; [length] when they do not split that way (the feed check then names it).
 */
export function inputDims(input: CondInput, n: number, length: number): number[] {
  const rest = input.shape.slice(1);
  const known = rest.reduce<number>((p, d) => (typeof d === 'number' ? p * d : p), 1);
  const free = rest.filter((d) => typeof d !== 'number').length;
  if (free === 0) return length === n * known ? [n, ...(rest as number[])] : [length];
  if (free > 1 || length % (n * known) !== 0) return [length];
  const f = length / (n * known);
  return [n, ...rest.map((d) => (typeof d === 'number' ? d : f))];
}
