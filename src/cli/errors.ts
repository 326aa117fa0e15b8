import { DiffusionError, OptionError } from '../core/errors';

/** Library option names whose flag is not the option in kebab case. */
const FLAGS: Record<string, string> = { classes: '--class', inputs: '--input', rank: '--lora', alpha: '--lora-alpha', targets: '--lora-targets' };

/** The flag that sets a library option: `overfitBatch` -> `--overfit-batch`, `classes` -> `--class`. */
export function flagOf(option: string): string {
  return FLAGS[option] ?? `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * A library message in the CLI's terms: option names become the flags that set them (an
 * OptionError's leading option, "the `x` option", and any other `x` in backticks).
 */
export function inFlagTerms(err: Error): string {
  let msg = err.message;
  if (err instanceof OptionError && msg.startsWith(err.option)) msg = flagOf(err.option) + msg.slice(err.option.length);
  return msg.replace(/the `(\w+)` option/g, (_, o: string) => flagOf(o)).replace(/`(\w+)`/g, (_, o: string) => flagOf(o));
}

/** What an unexpected error asks of the user. */
export const INTERNAL_HINT = '(a bug in onnx-diffusion: please report it with the command and the output of --verbose)';

/** Prints one line for an error (the stack too with --verbose) and returns the exit code. */
export function reportError(e: unknown, verbose: boolean): number {
  const err = e instanceof Error ? e : new Error(String(e));
  if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
  else {
    const usage = err.constructor.name === 'UsageError';
    const known = err instanceof DiffusionError || usage;
    const code = (err as NodeJS.ErrnoException).code;
    // Anything else is a bug of this program, not a mistake of the user's: said so, with how to report it.
    const msg = known ? inFlagTerms(err) : code ? err.message : `internal error: ${err.name}: ${err.message.split('\n')[0].slice(0, 300)} ${INTERNAL_HINT}`;
    // yargs spreads a usage error over lines ("Invalid values:\n  Argument: ..."): keep it whole, on one line.
    const line = usage ? msg.split('\n').map((s) => s.trim()).filter(Boolean).join(' ') : msg.split('\n')[0];
    process.stderr.write(`error: ${line}\n`);
  }
  return 1;
}
