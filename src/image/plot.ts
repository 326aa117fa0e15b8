/** Loss curves as PNG files: the SVG from loss-svg.ts rasterised by sharp, written atomically. */
import sharp from 'sharp';
import { writeFileAtomic } from './atomic';
import { lossCurveSvg, type LossCurveOptions } from './loss-svg';

export type { LossCurveOptions } from './loss-svg';

/** Writes a PNG line plot of `losses` (index = step) of the requested size. */
export async function writeLossCurve(path: string, losses: number[], opts: LossCurveOptions = {}): Promise<void> {
  const svg = lossCurveSvg(losses, opts);
  const png = await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toBuffer();
  await writeFileAtomic(path, png);
}
