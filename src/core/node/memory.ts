/** Memory this process may use, for checks made before allocating (Node only). */
import * as os from 'node:os';

/**
 * Bytes available: the OS's available memory (MemAvailable on Linux), or ONNX_DIFFUSION_MEMORY_MB
 * when set (tests, or a machine shared with other work).
 */
export function availableMemory(): number {
  const env = Number(process.env.ONNX_DIFFUSION_MEMORY_MB);
  if (Number.isFinite(env) && env > 0) return env * 2 ** 20;
  return os.freemem();
}
