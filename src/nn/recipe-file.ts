/** Reading recipes from disk (Node only; validateRecipe itself is pure). */
import { readFileSync } from 'node:fs';
import { FileFormatError } from '../core/errors';
import { Recipe, validateRecipe } from '../core/recipe';

/** Reads and validates a recipe JSON file; errors name the file (and the key path). */
export function loadRecipe(path: string): Recipe {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FileFormatError(path, `cannot read recipe: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(path, `invalid JSON: ${(e as Error).message}`);
  }
  return validateRecipe(obj, path);
}
