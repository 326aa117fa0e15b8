/**
 * `synthetic[:N]`: procedural shapes for tests and smoke runs. Each image is one filled circle,
 * square or triangle (the class label, 3 classes) at a random position and size with a random
 * bright intensity (a random colour when RGB) on a dark background. Fully determined by the seed.
 */
import { Rng } from '../core/rng';
import { DiffusionError } from '../core/errors';
import type { Dataset, DatasetRequest } from './dataset';
import { MemoryDataset } from './memory';

export const SYNTHETIC_CLASSES = ['circle', 'square', 'triangle'];
export const SYNTHETIC_DEFAULT_N = 512;

/** Whether the pixel centre (x, y) lies inside shape `kind` centred at (cx, cy) with half-size r. */
function inside(kind: number, x: number, y: number, cx: number, cy: number, r: number): boolean {
  const dx = x - cx;
  const dy = y - cy;
  if (kind === 0) return dx * dx + dy * dy <= r * r;
  if (kind === 1) return Math.abs(dx) <= r && Math.abs(dy) <= r;
  // Upward triangle with apex (cx, cy - r) and base y = cy + r from cx - r to cx + r.
  if (dy < -r || dy > r) return false;
  return Math.abs(dx) <= (dy + r) / 2;
}

export function openSynthetic(n: number, want: DatasetRequest): Dataset {
  if (!Number.isInteger(n) || n < 1) throw new DiffusionError(`synthetic:${n}: the image count must be a positive integer`);
  const { channels: c, size } = want;
  const rng = new Rng(want.seed ?? 0);
  const plane = size * size;
  const images = new Uint8Array(n * c * plane);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const kind = rng.int(0, 2);
    labels[i] = kind;
    const r = size * (0.15 + 0.2 * rng.uniform());
    const cx = r + rng.uniform() * (size - 2 * r);
    const cy = r + rng.uniform() * (size - 2 * r);
    const background = rng.int(0, 40);
    const colour = Array.from({ length: c }, () => rng.int(128, 255));
    if (c !== 3) colour.fill(colour[0]);
    const base = i * c * plane;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const on = inside(kind, x + 0.5, y + 0.5, cx, cy, r);
        for (let k = 0; k < c; k++) images[base + k * plane + y * size + x] = on ? colour[k] : background;
      }
    }
  }
  return new MemoryDataset({
    name: `synthetic:${n}`,
    length: n,
    channels: c,
    height: size,
    width: size,
    images,
    labels,
    numClasses: 3,
    classNames: SYNTHETIC_CLASSES,
  });
}
