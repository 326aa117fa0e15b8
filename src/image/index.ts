/** Image output and input: tensors to pixels, grids and strips, PNG/WebP/JPEG/GIF files, loss plots. (Atomic file writes are core/node/atomic-file.ts.) */
export { makeGrid, makeStrip, tileTable, upscale, type GridOptions, type Rgba, type TileOptions } from './grid';
export { lossCurveSvg, type LossCurveOptions } from './loss-svg';
export { writeLossCurve } from './plot';
export { encodeImage, writeAnimation, writeImage, writePng, type AnimationOptions } from './png';
export { readImage, readImageBytes, type ReadImageOptions } from './read';
export { fromByte, imageToRgba, rgbaToChw, toByte, toRgba, toUint8, type RgbaImage } from './pixels';
