/** Test helpers: temp folders and small images written with sharp. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';

export function tempDir(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'od-data-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a solid-colour RGB image; the format follows the extension. */
export async function writeSolid(file: string, w: number, h: number, rgb: [number, number, number]): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  await sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).toFile(file);
}
