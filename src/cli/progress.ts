/**
 * Progress for long CLI commands: a live bar with the rate on a terminal (stderr), nothing while
 * running otherwise; `stop()` returns the elapsed time and rate for the command's one summary line.
 */
import { SingleBar } from 'cli-progress';

export interface ProgressOptions {
  /** What is counted, e.g. 'steps' (default). */
  unit?: string;
  /** Text before the bar. */
  label?: string;
  /** Force the bar on or off (default: when stderr is a TTY). */
  live?: boolean;
}

export interface ProgressSummary {
  count: number;
  seconds: number;
  /** count / seconds. */
  rate: number;
}

export interface Progress {
  /** Sets the total once it is known (e.g. from the first step's report). */
  setTotal(total: number): void;
  tick(n?: number): void;
  stop(): ProgressSummary;
}

export function startProgress(total: number, opts: ProgressOptions = {}): Progress {
  const unit = opts.unit ?? 'steps';
  const live = opts.live ?? process.stderr.isTTY === true;
  const t0 = performance.now();
  let count = 0;
  let bar: SingleBar | undefined;
  if (live) {
    bar = new SingleBar({
      format: `${opts.label ? `${opts.label} ` : ''}{bar} {value}/{total} ${unit} | {rate} ${unit}/s | {duration_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
    });
    bar.start(Math.max(total, 1), 0, { rate: '-' });
  }
  const rate = () => count / Math.max((performance.now() - t0) / 1000, 1e-9);
  return {
    setTotal(n) {
      total = n;
      bar?.setTotal(Math.max(n, 1));
    },
    tick(n = 1) {
      count += n;
      bar?.update(count, { rate: rate().toFixed(1) });
    },
    stop() {
      bar?.stop();
      const seconds = (performance.now() - t0) / 1000;
      return { count, seconds, rate: count / Math.max(seconds, 1e-9) };
    },
  };
}

/** `1.23 s` style, with fewer decimals for long runs. */
export function formatSeconds(s: number): string {
  return s >= 100 ? `${s.toFixed(0)} s` : s >= 10 ? `${s.toFixed(1)} s` : `${s.toFixed(2)} s`;
}
