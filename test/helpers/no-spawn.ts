/**
 * Loaded by the unit tier (.mocharc.unit.cjs `require`): every way of starting a child process
 * throws, so a test that spawns one fails there by name instead of slowing the fast tier down.
 */
import { syncBuiltinESMExports } from 'node:module';

export const SPAWNERS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;

export const NO_SPAWN_MESSAGE = 'the unit tier (npm run test:unit) starts no child process: list this test file outside .mocharc.unit.cjs';

/** Replaces the spawning functions of `target` (child_process, or a stand-in in a test) by ones that throw. */
export function blockChildProcesses(target: object): void {
  for (const name of SPAWNERS) {
    Object.defineProperty(target, name, {
      configurable: true,
      writable: true,
      value: () => {
        throw new Error(`child_process.${name}: ${NO_SPAWN_MESSAGE}`);
      },
    });
  }
}

/** Whether `target`'s spawning functions are the blocking ones. */
export function isBlocked(target: Record<string, unknown>): boolean {
  return SPAWNERS.every((name) => String(target[name]).includes('NO_SPAWN_MESSAGE'));
}

if (process.env.ONNX_DIFFUSION_TEST_TIER === 'unit') {
  // The module object itself (an import namespace would be a frozen copy).
  blockChildProcesses(process.getBuiltinModule('node:child_process'));
  syncBuiltinESMExports();
}
