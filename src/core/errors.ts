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
