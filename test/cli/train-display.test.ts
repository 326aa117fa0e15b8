import * as assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { formatDuration, LossEma, smoothLosses } from '../../src/core/loss-ema';
import { TRAIN_WAIT_LABEL, trainDisplay } from '../../src/cli/progress';

/** A stream that keeps what it is given. */
function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const w = new Writable({ write(chunk, _enc, done) { text += String(chunk); done(); } });
  return { stream: w as unknown as NodeJS.WriteStream, text: () => text };
}

describe('train display: the smoothed loss, the ETA and the wait before the first step', () => {
  it('the bias-corrected EMA is the weighted mean sum_i (1 - b) b^(k-i) x_i / (1 - b^k), so its first value is the first loss', () => {
    const xs = Array.from({ length: 120 }, (_, i) => 0.5 * Math.exp(-i / 20) + 0.07 + 0.01 * Math.sin(i));
    const smooth = smoothLosses(xs, 0.98);
    assert.equal(smooth[0], xs[0]);
    for (const k of [1, 2, 10, 100, 120]) {
      let num = 0;
      let den = 0;
      for (let i = 1; i <= k; i++) {
        const w = 0.02 * 0.98 ** (k - i);
        num += w * xs[i - 1];
        den += w;
      }
      assert.ok(Math.abs(den - (1 - 0.98 ** k)) < 1e-12);
      assert.ok(Math.abs(smooth[k - 1] - num / den) < 1e-12, `step ${k}: ${smooth[k - 1]} vs ${num / den}`);
    }
    // A constant loss reads as itself from step 1 (an uncorrected EMA from 0 would climb).
    assert.deepEqual(smoothLosses([0.3, 0.3, 0.3]).map((v) => +v.toFixed(12)), [0.3, 0.3, 0.3]);
    assert.equal(new LossEma().label, 'EMA 50, bias-corrected');
  });

  it('durations round once: 539.6 s is 9m00s (not 8m60s), 59.6 s is 1m00s, 3599.7 s is 1h00m', () => {
    assert.equal(formatDuration(539.6), '9m00s');
    assert.equal(formatDuration(59.6), '1m00s');
    assert.equal(formatDuration(3599.7), '1h00m');
    assert.equal(formatDuration(42.2), '42s');
    assert.equal(formatDuration(7384), '2h03m');
    assert.equal(formatDuration(Infinity), '--');
  });

  it('plain lines (not a TTY): nothing before the first step, then the loss, its EMA (named), and the ETA at this process\'s rate', () => {
    const out = capture();
    let t = 0;
    const d = trainDisplay({ stream: out.stream, live: false, logEvery: 2, now: () => t });
    t = 30_000; // 30 s building the graph: not counted in the rate
    d.onStep({ step: 1, totalSteps: 100, loss: 0.5, lr: 1e-3, imagesPerSecond: 10 });
    t += 1000;
    d.onStep({ step: 2, totalSteps: 100, loss: 0.3, lr: 1e-3, imagesPerSecond: 10 });
    d.stop();
    const lines = out.text().trim().split('\n');
    const ema = (0.98 * 0.02 * 0.5 + 0.02 * 0.3) / (1 - 0.98 ** 2);
    // 1 s per step over this process's steps, 98 steps left
    assert.equal(lines[0], `step 2/100  loss 0.3000 (EMA 50, bias-corrected: ${ema.toFixed(4)})  lr 1.00e-3  10.0 img/s  ETA 1m38s`);
    assert.equal(lines.length, 1);
  });

  it('live: a spinner labelled with what it waits for, cleared at the first step', () => {
    const out = capture();
    const d = trainDisplay({ stream: out.stream, live: true });
    assert.match(out.text(), new RegExp(`^\\r. train: ${TRAIN_WAIT_LABEL.replace(/[()]/g, '\\$&')} 0s$`));
    d.onStep({ step: 1, totalSteps: 10, loss: 0.5, lr: 1e-3, imagesPerSecond: 10 });
    d.stop();
    assert.ok(out.text().includes('\r\x1b[2K'));
  });
});
