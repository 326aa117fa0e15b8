/** The demo pages' loss curve: raw losses faint, their bias-corrected EMA bold (train.html and lora.html). */
import { smoothLosses } from '../../../src/core/loss-ema';

/** Draws `losses` on `canvas`, axes and the high and low values labelled. */
export function drawLossCurve(canvas: HTMLCanvasElement, losses: readonly number[]): void {
  const ctx = canvas.getContext('2d')!;
  const { width: W, height: H } = canvas;
  ctx.clearRect(0, 0, W, H);
  if (losses.length === 0) return;
  const pad = 28;
  const hi = Math.max(...losses);
  const lo = Math.min(...losses, 0);
  const x = (i: number) => pad + ((W - pad - 8) * i) / Math.max(1, losses.length - 1);
  const y = (v: number) => H - pad - ((H - pad - 8) * (v - lo)) / Math.max(1e-9, hi - lo);
  ctx.strokeStyle = '#9ca3af';
  ctx.fillStyle = '#6b7280';
  ctx.font = '11px system-ui';
  ctx.beginPath();
  ctx.moveTo(pad, 8);
  ctx.lineTo(pad, H - pad);
  ctx.lineTo(W - 8, H - pad);
  ctx.stroke();
  ctx.fillText(hi.toFixed(3), 2, 14);
  ctx.fillText(lo.toFixed(2), 2, H - pad);
  ctx.fillText(`step ${losses.length}`, W - 60, H - 10);
  const line = (vals: readonly number[], color: string, width: number) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    vals.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
    ctx.stroke();
    ctx.lineWidth = 1;
  };
  line(losses, 'rgba(37, 99, 235, 0.35)', 1);
  // The smoothed line starts at the first loss: a bias-corrected EMA (src/core/loss-ema.ts), as the terminal bar.
  line(smoothLosses(losses, 0.9), '#2563eb', 2);
  ctx.fillText('EMA 10, bias-corrected', pad + 6, 14);
}
