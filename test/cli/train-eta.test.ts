import * as assert from 'node:assert/strict';
import { etaSeconds } from '../../src/cli/commands/train';

describe('train: the plain-log ETA', () => {
  it("is this process's seconds per step times the steps left (a run resumed at 500 of 3000, 350 steps in 600 s)", () => {
    // Counting from step 0 would say 600 / 850 * 2150 = 1518 s, the bug this replaces.
    assert.equal(etaSeconds(600, 350, 2150), (600 / 350) * 2150);
    assert.equal(etaSeconds(10, 5, 0), 0);
    assert.equal(etaSeconds(3, 0, 10), Infinity);
  });
});
