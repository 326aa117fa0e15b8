/**
 * Progress for long CLI commands: a live bar with the rate on a terminal (stderr), nothing while
 * running otherwise; `stop()` returns the elapsed time and rate for the command's one summary line.
 */
import { SingleBar } from 'cli-progress';
import { formatDuration, LossEma } from '../core/loss-ema';

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

/** What the train display needs of a step (train()'s StepReport). */
export interface TrainStepView {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
}

export interface TrainDisplayOptions {
  /** A plain line every N steps when not live (default 50). */
  logEvery?: number;
  /** Default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Live bar and spinner (default: when the stream is a TTY). */
  live?: boolean;
  /** Milliseconds since the epoch (default Date.now); tests pass their own clock. */
  now?: () => number;
}

export interface TrainDisplay {
  onStep(s: TrainStepView): void;
  stop(): void;
}

const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** What train() does before its first step report: the spinner says so. */
export const TRAIN_WAIT_LABEL = 'building the training step graph and loading it into ONNX Runtime (the first step follows)';

/**
 * Seconds left at the rate of this process's own steps: a resumed run counts from where it
 * resumed, not from step 0 (which made the estimate too short by the share already done).
 */
export function etaSeconds(elapsedS: number, stepsThisProcess: number, stepsLeft: number): number {
  return stepsThisProcess > 0 ? (elapsedS / stepsThisProcess) * stepsLeft : Infinity;
}

/**
 * The train command's display. Before the first step, a live spinner names what it waits for
 * (nothing when not live, so a run that fails before its first step prints its error alone); then a bar (live) or a line every `logEvery` steps with the step's loss, the
 * bias-corrected EMA of the loss (core/loss-ema.ts, named as such), the rate and the ETA.
 */
export function trainDisplay(opts: TrainDisplayOptions = {}): TrainDisplay {
  const stream = opts.stream ?? process.stderr;
  const live = opts.live ?? stream.isTTY === true;
  const now = opts.now ?? Date.now;
  const logEvery = opts.logEvery ?? 50;
  const ema = new LossEma();
  const started = now();
  let first: { step: number; at: number } | undefined;
  let spinner: ReturnType<typeof setInterval> | undefined;
  let bar: SingleBar | undefined;
  if (live) {
    let i = 0;
    const draw = () => stream.write(`\r${SPIN[i++ % SPIN.length]} train: ${TRAIN_WAIT_LABEL} ${formatDuration((now() - started) / 1000)}`);
    draw();
    spinner = setInterval(draw, 100);
    spinner.unref?.();
  }
  const stopSpinner = () => {
    if (spinner === undefined) return;
    clearInterval(spinner);
    spinner = undefined;
    stream.write('\r\x1b[2K');
  };
  return {
    onStep(s) {
      const smooth = ema.push(s.loss);
      // The rate counts from the first report of this process (its step ran while the spinner turned).
      first ??= { step: s.step, at: now() };
      const eta = formatDuration(etaSeconds((now() - first.at) / 1000, s.step - first.step, s.totalSteps - s.step));
      if (live) {
        const payload = { loss: smooth.toFixed(4), lr: s.lr.toExponential(2), ips: s.imagesPerSecond.toFixed(1), eta };
        if (!bar) {
          stopSpinner();
          bar = new SingleBar({
            format: `train |{bar}| {value}/{total} steps | {ips} img/s | ETA {eta} | loss {loss} (${ema.label}) | lr {lr}`,
            stream, hideCursor: true,
          });
          bar.start(s.totalSteps, s.step, payload);
        } else bar.update(s.step, payload);
        return;
      }
      if (s.step % logEvery !== 0 && s.step !== s.totalSteps) return;
      stream.write(`step ${s.step}/${s.totalSteps}  loss ${s.loss.toFixed(4)} (${ema.label}: ${smooth.toFixed(4)})  lr ${s.lr.toExponential(2)}  `
        + `${s.imagesPerSecond.toFixed(1)} img/s  ETA ${eta}\n`);
    },
    stop() {
      stopSpinner();
      bar?.stop();
    },
  };
}
