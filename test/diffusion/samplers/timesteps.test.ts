import assert from 'node:assert/strict';
import { makeTimesteps, roundHalfEven } from '../../../src/diffusion/samplers/timesteps';

describe('samplers/timesteps', () => {
  it('matches diffusers for T = 1000, steps = 10', () => {
    assert.deepEqual([...makeTimesteps(1000, 10, 'leading')], [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    assert.deepEqual([...makeTimesteps(1000, 10, 'trailing')], [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    assert.deepEqual([...makeTimesteps(1000, 10, 'linspace')], [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  });

  it('rounds halves to even like numpy (T = 1000, steps = 7)', () => {
    // numpy: np.linspace(0, 999, 7).round() = [0, 166, 333, 500, 666, 832, 999] (166.5 -> 166, 832.5 -> 832)
    assert.deepEqual([...makeTimesteps(1000, 7, 'linspace')].reverse(), [0, 166, 333, 500, 666, 832, 999]);
    // numpy: np.round(np.arange(1000, 0, -1000/7)) - 1 = [999, 856, 713, 570, 428, 285, 142]
    assert.deepEqual([...makeTimesteps(1000, 7, 'trailing')], [999, 856, 713, 570, 428, 285, 142]);
    assert.deepEqual([...makeTimesteps(1000, 7, 'leading')], [852, 710, 568, 426, 284, 142, 0]);
    assert.equal(roundHalfEven(2.5), 2);
    assert.equal(roundHalfEven(3.5), 4);
    assert.equal(roundHalfEven(-0.4), -0);
  });

  it('covers every timestep when steps = T, and one step', () => {
    for (const sp of ['leading', 'trailing', 'linspace'] as const) {
      assert.deepEqual([...makeTimesteps(50, 50, sp)], Array.from({ length: 50 }, (_, i) => 49 - i), sp);
    }
    assert.deepEqual([...makeTimesteps(1000, 1, 'trailing')], [999]);
    assert.deepEqual([...makeTimesteps(1000, 1, 'linspace')], [0]);
  });

  it('rejects steps > T and non-integers', () => {
    assert.throws(() => makeTimesteps(100, 101), /steps \(101\) must not exceed the model's timesteps \(100\)/);
    assert.throws(() => makeTimesteps(100, 0), /positive integer/);
    assert.throws(() => makeTimesteps(100, 2.5), /positive integer/);
  });
});
