/**
 * Files shipped in the package, found from any working directory: recipes in graphs/ and models
 * in models/<name>/model.onnx, named without their folder (`unet-tiny`, `fashion-mnist-classifier`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { nearest } from '../option-check';
import { DiffusionError, FileFormatError } from '../errors';

/** The package root: the nearest folder above `from` whose package.json is named onnx-diffusion. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'onnx-diffusion') return dir;
      } catch {
        // An unreadable package.json belongs to someone else: keep walking up.
      }
    }
    if (dirname(dir) === dir) throw new DiffusionError(`${from}: no onnx-diffusion package.json above this folder`);
  }
}

const NAME = /^[\w.-]+$/;

/** The recipe names shipped in graphs/. */
export function shippedRecipes(root: string = packageRoot()): string[] {
  return readdirSync(join(root, 'graphs')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

/**
 * A file of the package's docs/ as a path the user can open: messages name it this way, since a
 * bare `docs/cuda.md` reads as a folder of the user's own app.
 */
export function shippedDoc(name: string): string {
  try {
    return join(packageRoot(), 'docs', name);
  } catch {
    return `onnx-diffusion/docs/${name}`;
  }
}

/** The model names shipped in models/ (folders holding a model.onnx; `<name>.fp16` where a model.fp16.onnx is beside it). */
export function shippedModels(): string[] {
  const dir = join(packageRoot(), 'models');
  const names: string[] = [];
  for (const d of readdirSync(dir)) {
    if (existsSync(join(dir, d, 'model.onnx'))) names.push(d);
    if (existsSync(join(dir, d, 'model.fp16.onnx'))) names.push(`${d}.fp16`);
  }
  return names.sort();
}

/**
 * A recipe argument as a file: an existing path as given, else a shipped recipe named
 * `unet-tiny`, `unet-tiny.json` or `graphs/unet-tiny.json` (the repository-relative spelling).
 */
export function resolveRecipePath(arg: string, root?: string): string {
  if (existsSync(arg)) return arg;
  root ??= packageRoot();
  const name = arg.replace(/^\.?[\\/]?graphs[\\/]/, '').replace(/\.json$/, '');
  const shipped = join(root, 'graphs', `${name}.json`);
  if (NAME.test(name) && existsSync(shipped)) return shipped;
  // A bare name that is neither: say which names exist. A path is left to the reader's error.
  if (NAME.test(arg)) throw new FileFormatError(arg, `no such file, nor a shipped recipe of that name (${shippedRecipes(root).join(', ')})`);
  return arg;
}

/**
 * A model argument as a path: an existing path as given, else a shipped model's
 * models/<name>/model.onnx, or with the suffix `.fp16` (`fashion-mnist.fp16`) its half-stored
 * copy models/<name>/model.fp16.onnx.
 */
export function resolveModelName(arg: string, root?: string): string {
  if (existsSync(arg) || !NAME.test(arg)) return arg;
  root ??= packageRoot();
  const half = arg.endsWith('.fp16');
  const name = half ? arg.slice(0, -5) : arg;
  const shipped = join(root, 'models', name, half ? 'model.fp16.onnx' : 'model.onnx');
  if (existsSync(shipped)) return shipped;
  // A bare name that is neither: say which names exist (and the nearest one).
  const dir = join(root, 'models');
  const known = existsSync(dir) ? readdirSync(dir).flatMap((d) => [
    ...(existsSync(join(dir, d, 'model.onnx')) ? [d] : []), ...(existsSync(join(dir, d, 'model.fp16.onnx')) ? [`${d}.fp16`] : []),
  ]) : [];
  const near = nearest(arg, known);
  throw new FileFormatError(arg, `no such file, nor a shipped model of that name (${known.join(', ')})${near ? `; did you mean ${near}?` : ''}`);
}
