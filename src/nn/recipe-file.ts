/** Reading recipes from disk (Node only; validateRecipe itself is pure). */
import { availableMemory } from '../core/node/memory';
import { readTextLimited } from '../core/node/read-limits';
import { resolveRecipePath } from '../core/node/package-files';
import { checkRecipeBudget } from './recipe-budget';
import { FileFormatError } from '../core/errors';
import { Recipe, validateRecipe } from '../core/recipe';

/**
 * Reads and validates a recipe JSON file, or a recipe shipped in the package by name ('unet-tiny');
 * errors name the file (and the key path).
 */
export function loadRecipe(pathOrName: string): Recipe {
  const path = resolveRecipePath(pathOrName);
  const text = readTextLimited(path, 'recipe', 'recipe');
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(path, `invalid JSON: ${(e as Error).message}`);
  }
  const recipe = validateRecipe(obj, path);
  checkRecipeBudget(recipe, path, { batch: 0, copies: 4, activationFactor: 1, available: availableMemory() });
  return recipe;
}
