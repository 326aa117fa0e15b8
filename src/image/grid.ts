/**
 * Tiling RGBA images into sample grids and denoising strips, with a thin border and an integer
 * nearest-neighbour upscale. Pure: no Node imports (the browser demo reuses it).
 */
import { DiffusionError, OptionError } from '../core/errors';
import { checkOptions } from '../core/option-check';
import type { RgbaImage } from './pixels';

/** RGBA colour, 0..255 per component. */
export type Rgba = [number, number, number, number];

export interface TileOptions {
  /** Border width in output pixels, around and between tiles (default 2). */
  border?: number;
  /** Border and empty-cell colour (default mid grey, opaque). */
  borderColor?: Rgba;
  /** Integer nearest-neighbour upscale applied to each tile (default 1). */
  scale?: number;
}

export interface GridOptions extends TileOptions {
  /** Columns; default ceil(sqrt(n)). */
  cols?: number;
}

const GRID_OPTIONS = {
  cols: { kind: 'integer', min: 1 }, border: { kind: 'integer', min: 0 }, borderColor: { kind: 'numbers', integer: true, min: 0, max: 255 }, scale: { kind: 'integer', min: 1 },
} as const;

/** `images` must be RGBA images (a SampleResult's `rgba`), each with width x height x 4 bytes. */
export function checkRgbaList(images: unknown, entry: string): void {
  const hint = images instanceof Float32Array ? ' (a Float32Array is SampleResult.images: pass SampleResult.rgba, or toRgba(images, n, c, h, w))' : '';
  if (!Array.isArray(images)) throw new OptionError('images', `of ${entry} must be an array of RGBA images ({ width, height, rgba }), got ${images === null ? 'null' : typeof images}${hint}`);
  images.forEach((img: Partial<RgbaImage> | undefined, i) => {
    const ok = img && Number.isInteger(img.width) && Number.isInteger(img.height) && img.rgba instanceof Uint8Array && img.rgba.length === img.width! * img.height! * 4;
    if (!ok) throw new OptionError('images', `of ${entry}: item ${i} is not an RGBA image ({ width, height, rgba: Uint8Array of width x height x 4 bytes })`);
  });
}

const DEFAULT_BORDER: Rgba = [96, 96, 96, 255];

/** Largest grid drawn: 2^28 pixels (1 GiB of RGBA), past what image encoders take in one piece. */
export const MAX_GRID_PIXELS = 2 ** 28;

/** Nearest-neighbour upscale by an integer factor k >= 1. */
export function upscale(img: RgbaImage, k: number): RgbaImage {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`upscale factor must be a positive integer, got ${k}`);
  if (k === 1) return img;
  const width = img.width * k;
  const height = img.height * k;
  // Copy when unaligned: a Uint32Array view needs a 4-byte aligned offset.
  const bytes = img.rgba.byteOffset % 4 === 0 ? img.rgba : img.rgba.slice();
  const src = new Uint32Array(bytes.buffer, bytes.byteOffset, img.width * img.height);
  const rgba = new Uint8Array(width * height * 4);
  const dst = new Uint32Array(rgba.buffer);
  for (let y = 0; y < height; y++) {
    const sy = Math.floor(y / k) * img.width;
    for (let x = 0; x < width; x++) dst[y * width + x] = src[sy + Math.floor(x / k)];
  }
  return { width, height, rgba };
}

/**
 * Lays out a table of cells (rows x cols; a missing cell is left in the border colour). All cells
 * share one size. Output size: cols * (w * scale) + (cols + 1) * border wide, likewise high.
 */
export function tileTable(cells: (RgbaImage | undefined)[][], opts: TileOptions = {}): RgbaImage {
  const border = opts.border ?? 2;
  const color = opts.borderColor ?? DEFAULT_BORDER;
  const scale = opts.scale ?? 1;
  if (!Number.isInteger(border) || border < 0) throw new RangeError(`border must be a non-negative integer, got ${border}`);
  const first = cells.flat().find((c): c is RgbaImage => c !== undefined);
  if (first === undefined) throw new RangeError('cannot tile zero images');
  const rows = cells.length;
  const cols = Math.max(...cells.map((r) => r.length));
  const tw = first.width * scale;
  const th = first.height * scale;
  const width = cols * tw + (cols + 1) * border;
  const height = rows * th + (rows + 1) * border;
  if (!(width * height <= MAX_GRID_PIXELS)) {
    throw new DiffusionError(`the grid would be ${width} x ${height} pixels (upscale ${scale}, border ${border}), over the limit of ${MAX_GRID_PIXELS.toLocaleString('en-US')} pixels; lower the upscale or border`);
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) rgba.set(color, 4 * p);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cells[r].length; c++) {
      const cell = cells[r][c];
      if (cell === undefined) continue;
      if (cell.width !== first.width || cell.height !== first.height) {
        throw new RangeError(`tile (${r},${c}) is ${cell.width}x${cell.height}, expected ${first.width}x${first.height}`);
      }
      const tile = upscale(cell, scale);
      const x0 = border + c * (tw + border);
      const y0 = border + r * (th + border);
      for (let y = 0; y < th; y++) {
        const src = tile.rgba.subarray(y * tw * 4, (y + 1) * tw * 4);
        rgba.set(src, ((y0 + y) * width + x0) * 4);
      }
    }
  }
  return { width, height, rgba };
}

/** n images in a square-ish grid: cols = ceil(sqrt(n)) unless given, rows = ceil(n / cols). */
export function makeGrid(images: RgbaImage[], opts: GridOptions = {}): RgbaImage {
  checkRgbaList(images, 'makeGrid');
  checkOptions(opts, GRID_OPTIONS, 'makeGrid');
  const n = images.length;
  const cols = opts.cols ?? Math.ceil(Math.sqrt(n));
  if (!Number.isInteger(cols) || cols < 1) throw new RangeError(`cols must be a positive integer, got ${cols}`);
  const table: RgbaImage[][] = [];
  for (let i = 0; i < n; i += cols) table.push(images.slice(i, i + cols));
  return tileTable(table, opts);
}

/**
 * The denoising process as a strip: `frames[f][i]` is image i at the f-th chosen timestep; the
 * output has one row per image and one column per frame.
 */
export function makeStrip(frames: RgbaImage[][], opts: TileOptions = {}): RgbaImage {
  const n = Math.max(0, ...frames.map((f) => f.length));
  const table: (RgbaImage | undefined)[][] = [];
  for (let i = 0; i < n; i++) table.push(frames.map((f) => f[i]));
  return tileTable(table, opts);
}
