/** Running the CLI in tests: in a child process (native aborts, signals, timeouts) or in-process (fast). */
import { spawn, SpawnOptions, spawnSync } from 'node:child_process';
import { main } from '../../src/cli/main';
import { repoRoot } from './paths';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whether the child ran past its timeout and was killed. */
  timedOut: boolean;
  /** Wall time in milliseconds. */
  ms: number;
}

/** Starts `node --import tsx src/cli/main.ts ...args` in the repository root. */
export function spawnCli(args: string[], opts: SpawnOptions = {}) {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repoRoot(), ...opts });
}

/** Runs the CLI in a child process; `timeoutMs` kills it with SIGKILL. `maxOldSpaceMb` caps the JS heap. */
export function runCli(args: string[], o: { timeoutMs?: number; maxOldSpaceMb?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const started = Date.now();
  const heap = o.maxOldSpaceMb ? [`--max-old-space-size=${o.maxOldSpaceMb}`] : [];
  const child = spawn(process.execPath, [...heap, '--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repoRoot(), env: o.env ?? process.env });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, o.timeoutMs ?? 60_000);
  return new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started });
  }));
}

/**
 * Runs the CLI in this process (no startup cost): stdout and stderr are captured, the exit code
 * is process.exitCode as main() leaves it. Not for cases that may abort natively or hang.
 */
export async function cliInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  let stdout = '';
  let stderr = '';
  const before = process.exitCode;
  process.exitCode = 0;
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    await main(args);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { code, stdout, stderr };
}

/** Runs the CLI from source in the repository root, synchronously; returns exit code and both streams. */
export function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repoRoot(), encoding: 'utf8', timeout: 170_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
