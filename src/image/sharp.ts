/** sharp, required on first use: the package loads it only when an image is read or written. */
type SharpFn = typeof import('sharp');

let loaded: SharpFn | undefined;

/** The sharp function, loaded once. */
export function sharp(): SharpFn {
  return (loaded ??= require('sharp') as SharpFn);
}
