import { DiffusionError } from '../errors';

/** Prints one line for an error (the stack too with --verbose) and returns the exit code. */
export function reportError(e: unknown, verbose: boolean): number {
  const err = e instanceof Error ? e : new Error(String(e));
  if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
  else {
    const known = err instanceof DiffusionError || err.constructor.name === 'UsageError';
    const code = (err as NodeJS.ErrnoException).code;
    const msg = known ? err.message : code ? err.message : `${err.name}: ${err.message}`;
    process.stderr.write(`error: ${msg.split('\n')[0]}\n`);
  }
  return 1;
}
