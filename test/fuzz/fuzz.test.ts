import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCase, makeSeeds, writeShared } from '../../tools/fuzz/cases';
import { outcomeTable, runCases } from '../../tools/fuzz/run';
import { repoRoot } from '../helpers/paths';

/**
 * A seeded slice of the fuzz stream (`npm run fuzz -- --cases N` runs longer ones): every hostile
 * input ends in exit 0 or one `error:` line naming the input; no native abort, hang or stack trace,
 * and the in-process cases stay under a memory cap.
 */
describe('fuzz: hostile files, recipes and flags get one clear error', function () {
  this.timeout(300_000);
  const CASES = 100;
  const SEED = 15;
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'od-fuzz-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`${CASES} seeded cases (mutated ONNX in child processes, corrupt data, bad recipes and flags in-process)`, async () => {
    const seeds = await makeSeeds(dir, repoRoot());
    writeShared(seeds);
    const cases = Array.from({ length: CASES }, (_, i) => makeCase(seeds, SEED, i));
    const results = await runCases(cases, { repoRoot: repoRoot(), jobs: 2, timeoutMs: 45_000, heapMb: 2048, memoryMb: 4096 });
    console.log(outcomeTable(results).split('\n').map((l) => `      ${l}`).join('\n'));
    const bad = results.filter((r) => r.outcome !== 'ok' && r.outcome !== 'clean-error');
    assert.deepEqual(bad.map((r) => `case ${r.case.id} ${r.outcome}: ${r.case.mutation}: ${r.stderr.trim().split('\n').pop()}`), []);
    const rss = Math.max(...results.map((r) => r.rss ?? 0));
    assert.ok(rss < 3 * 2 ** 30, `in-process memory reached ${(rss / 2 ** 30).toFixed(1)} GiB`);
  });
});
