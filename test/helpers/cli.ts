import { spawnSync } from 'node:child_process';
import { repoRoot } from './paths';

/** Runs the CLI from source in the repository root; returns exit code and both streams. */
export function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repoRoot(), encoding: 'utf8', timeout: 170_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
