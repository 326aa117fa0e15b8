/**
 * Errors a user can act on: one line naming the file, key, op or tensor and what was expected.
 * The CLI prints `message` only (the stack with `--verbose`).
 */
export class DiffusionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiffusionError';
  }
}

/**
 * A bad library option, named as the API names it (`classes given but ...`); the CLI shows the
 * flag that set it instead (cli/errors.ts). Other messages write option names in backticks (`init`).
 */
export class OptionError extends DiffusionError {
  constructor(readonly option: string, problem: string) {
    super(`${option} ${problem}`);
    this.name = 'OptionError';
  }
}

/** A file that cannot be read or decoded (names the file). */
export class FileFormatError extends DiffusionError {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'FileFormatError';
  }
}

/** A bad recipe/config/pipeline key (names the key's path). */
export class ConfigError extends DiffusionError {
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = 'ConfigError';
  }
}
