/** Loss curves as PNG files: the SVG from loss-svg.ts rasterised by sharp, written atomically. */
import { sharp } from './sharp';
import { writeFileAtomic } from '../core/node/atomic-file';
import { lossCurveSvg, type LossCurveOptions } from './loss-svg';

export type { LossCurveOptions } from './loss-svg';

/** A further curve drawn to the right of the loss, e.g. FD at the steps it was measured. */
export interface SidePanel {
  values: number[];
  options: LossCurveOptions;
}

/** Writes a PNG line plot of `losses` (index = step) of the requested size, with any side panels to its right. */
export async function writeLossCurve(path: string, losses: number[], opts: LossCurveOptions = {}, side: SidePanel[] = []): Promise<void> {
  const width = opts.width ?? 800;
  const height = opts.height ?? 480;
  const panels = [lossCurveSvg(losses, { ...opts, width, height }), ...side.map((p) => lossCurveSvg(p.values, { width, height, ...p.options }))];
  const svg = panels.length === 1
    ? panels[0]
    : `<svg xmlns="http://www.w3.org/2000/svg" width="${width * panels.length}" height="${height}">` +
      panels.map((p, i) => p.replace('<svg ', `<svg x="${i * width}" `)).join('') + '</svg>';
  const png = await sharp()(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toBuffer();
  await writeFileAtomic(path, png);
}
