/**
 * A loss curve as an SVG string: raw points in a light colour, an exponential moving average on
 * top, axes with "nice" ticks, labels and a title; optional log-scale y. Pure (no Node imports).
 */

export interface LossCurveOptions {
  title?: string;
  /** Output size in pixels (default 800 x 480). */
  width?: number;
  height?: number;
  /** Log-scale y axis (non-positive losses are left out). */
  logY?: boolean;
  /** EMA factor in [0, 1): weight of the running average (default 0.9). */
  smoothing?: number;
  xLabel?: string;
  yLabel?: string;
  /** The x value of each point (e.g. the steps an evaluation ran at); default 1, 2, 3, ... */
  x?: number[];
  /** Draw a dot at every point (for sparse series such as periodic evaluations). */
  markers?: boolean;
}

const MARGIN = { left: 72, right: 24, top: 40, bottom: 56 };

/** Debiased EMA (as TensorBoard draws it); non-finite values are carried through as NaN. */
export function ema(values: number[], smoothing: number): number[] {
  let avg = 0;
  let weight = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return NaN;
    avg = smoothing * avg + (1 - smoothing) * v;
    weight = smoothing * weight + (1 - smoothing);
    return avg / weight;
  });
}

/** Tick values covering [lo, hi] at a 1-2-5 step, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Ticks (as log10 values) for a log axis: whole decades when it spans two or more, else 1-2-5 (or 1..9) per decade. */
function logTicks(lo: number, hi: number): number[] {
  if (hi - lo >= 2) return niceTicks(lo, hi, 6).filter(Number.isInteger);
  const within = (mantissas: number[]): number[] => {
    const out: number[] = [];
    for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
      for (const m of mantissas) {
        const t = Math.log10(m) + k;
        if (t >= lo && t <= hi) out.push(t);
      }
    }
    return out;
  };
  const ticks = within([1, 2, 5]);
  return ticks.length >= 3 ? ticks : within([1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Renders the plot. An empty or all-NaN loss list still gives axes and the title. */
export function lossCurveSvg(losses: number[], opts: LossCurveOptions = {}): string {
  const W = opts.width ?? 800;
  const H = opts.height ?? 480;
  const logY = opts.logY ?? false;
  const pw = W - MARGIN.left - MARGIN.right;
  const ph = H - MARGIN.top - MARGIN.bottom;
  const f = (v: number): number => (logY ? (v > 0 ? Math.log10(v) : NaN) : v);
  const ys = losses.map(f);
  const smooth = ema(losses, opts.smoothing ?? 0.9).map(f);
  const finite = ys.filter(Number.isFinite);
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (hi - lo < 1e-12) {
    lo -= 0.5;
    hi += 0.5;
  }
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const n = Math.max(losses.length, 2);
  const xs = opts.x;
  // With explicit x values the axis spans [0, max x]; else the 1-based index spans [1, n].
  const xMax = xs && xs.length ? Math.max(...xs, 1) : n;
  const xMin = xs ? 0 : 1;
  const px = (i: number): number => MARGIN.left + (pw * ((xs ? xs[i] : i + 1) - xMin)) / (xMax - xMin);
  const py = (v: number): number => MARGIN.top + ph * (1 - (v - lo) / (hi - lo));

  const path = (vals: number[]): string => {
    let d = '';
    let pen = false;
    vals.forEach((v, i) => {
      if (!Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${px(i).toFixed(1)},${py(v).toFixed(1)}`;
      pen = true;
    });
    return d;
  };

  const parts: string[] = [];
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  for (const t of logY ? logTicks(lo, hi) : niceTicks(lo, hi, 6)) {
    const y = py(t).toFixed(1);
    const label = fmt(logY ? Number((10 ** t).toPrecision(6)) : t);
    parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + pw}" y1="${y}" y2="${y}" stroke="#e6e6e6"/>`);
    parts.push(`<line x1="${MARGIN.left - 5}" x2="${MARGIN.left}" y1="${y}" y2="${y}" stroke="#333"/>`);
    parts.push(`<text x="${MARGIN.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${label}</text>`);
  }
  for (const t of niceTicks(xMin, xMax, 8)) {
    if (!Number.isInteger(t)) continue;
    const x = (MARGIN.left + (pw * (t - xMin)) / (xMax - xMin)).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${MARGIN.top + ph}" y2="${MARGIN.top + ph + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x}" y="${MARGIN.top + ph + 20}" text-anchor="middle">${fmt(t)}</text>`);
  }
  parts.push(`<path d="${path(ys)}" fill="none" stroke="#9ecae1" stroke-width="1"/>`);
  parts.push(`<path d="${path(smooth)}" fill="none" stroke="#08519c" stroke-width="2"/>`);
  if (opts.markers) {
    ys.forEach((v, i) => {
      if (Number.isFinite(v)) parts.push(`<circle cx="${px(i).toFixed(1)}" cy="${py(v).toFixed(1)}" r="3.5" fill="#08519c"/>`);
    });
  }
  parts.push(
    `<path d="M${MARGIN.left},${MARGIN.top}V${MARGIN.top + ph}H${MARGIN.left + pw}" fill="none" stroke="#333"/>`,
  );
  const xLabel = escapeXml(opts.xLabel ?? 'step');
  const yLabel = escapeXml((opts.yLabel ?? 'loss') + (logY ? ' (log)' : ''));
  parts.push(`<text x="${MARGIN.left + pw / 2}" y="${H - 14}" text-anchor="middle">${xLabel}</text>`);
  parts.push(
    `<text transform="translate(18,${MARGIN.top + ph / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`,
  );
  if (opts.title) {
    parts.push(`<text x="${W / 2}" y="26" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(opts.title)}</text>`);
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12" fill="#222">` +
    parts.join('') +
    '</svg>'
  );
}
