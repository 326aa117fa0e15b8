import { DiffusionError } from '../core/errors';

/** Prints one line for an error (the stack too with --verbose) and returns the exit code. */
export function reportError(e: unknown, verbose: boolean): number {
  const err = e instanceof Error ? e : new Error(String(e));
  if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
  else {
    const usage = err.constructor.name === 'UsageError';
    const known = err instanceof DiffusionError || usage;
    const code = (err as NodeJS.ErrnoException).code;
    const msg = known ? err.message : code ? err.message : `${err.name}: ${err.message}`;
    // yargs spreads a usage error over lines ("Invalid values:\n  Argument: ..."): keep it whole, on one line.
    const line = usage ? msg.split('\n').map((s) => s.trim()).filter(Boolean).join(' ') : msg.split('\n')[0];
    process.stderr.write(`error: ${line}\n`);
  }
  return 1;
}
