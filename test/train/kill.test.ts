import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Rng } from '../../src/core/rng';
import { loadState } from '../../src/train/checkpoint';
import { runCli, spawnCli } from '../helpers/cli';

const STEPS = 4;
const args = (out: string) => ['train', '--recipe', 'graphs/unet-tiny.json', '--steps', String(STEPS), '--batch', '2', '--threads', '1',
  '--save-every', '1', '--sample-every', '2', '--sample-n', '2', '--data', 'synthetic:16', '--seed', '3', '--out', out];

type Aim = 'random' | 'first-checkpoint' | 'later-checkpoint';

/**
 * Starts a run and SIGKILLs it: after a random delay, or a random 0-4 ms after a checkpoint's
 * state folder starts being written (the first one, inside the private staging folder, or a later
 * one). Resolves once the child is gone.
 */
async function killRun(out: string, aim: Aim, rng: Rng): Promise<void> {
  const child = spawnCli(args(out), { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  // The private staging folder is `${out}.tmp-<pid>-<random id>` (core/node/owned.ts).
  const stagingRe = new RegExp(`^${basename(out)}\\.tmp-${child.pid}-[0-9a-f]{16}$`);
  const staging = () => readdirSync(dirname(out)).filter((n) => stagingRe.test(n)).map((n) => join(dirname(out), n))[0];
  const target = () => (aim === 'first-checkpoint' ? join(staging() ?? join(out, 'none'), `state.tmp-${child.pid}`) : join(out, `state.tmp-${child.pid}`));
  const delay = aim === 'random' ? 300 + rng.uniform() * 2700 : rng.uniform() * 4;
  let done = false;
  void exited.then(() => (done = true));
  if (aim !== 'random') {
    // Polled, not fs.watch: the state folder appears and goes within milliseconds.
    while (!done && !existsSync(target())) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, delay));
  child.kill('SIGKILL');
  await exited;
}

describe('SIGKILL during training leaves a run folder that is absent or resumes bit for bit', function () {
  this.timeout(300_000);
  let tmp: string;
  let ref: ReturnType<typeof loadState>;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'od-kill-'));
    const r = await runCli(args(join(tmp, 'ref')));
    assert.equal(r.code, 0, r.stderr);
    ref = loadState(join(tmp, 'ref'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('20 kills (random moments, during the first checkpoint, during later ones): every folder is absent or resumes to the uninterrupted run', async () => {
    const rng = new Rng(2026);
    const aims: Aim[] = [...Array(7).fill('random'), ...Array(7).fill('first-checkpoint'), ...Array(6).fill('later-checkpoint')];
    const outcomes: Record<string, number> = {};
    for (const [i, aim] of aims.entries()) {
      const out = join(tmp, `run-${i}`);
      await killRun(out, aim, rng);
      let outcome: string;
      if (!existsSync(out)) {
        outcome = 'absent';
      } else {
        const r = await runCli(['train', '--resume', out, '--threads', '1']);
        assert.equal(r.code, 0, `kill ${i} (${aim}): ${out} did not resume: ${r.stderr}`);
        const st = loadState(out);
        assert.equal(st.meta.step, STEPS);
        for (const k of ['params', 'm', 'v', 'ema'] as const) {
          assert.ok(Buffer.from(st.vec[k].buffer).equals(Buffer.from(ref.vec[k].buffer)), `kill ${i} (${aim}): ${k} differs from the uninterrupted run`);
        }
        assert.deepEqual(st.meta.losses, ref.meta.losses);
        const left = readdirSync(out).filter((n) => /\.(tmp|old)-\d+(-[0-9a-f]{16})?$/.test(n));
        assert.deepEqual(left, [], `kill ${i}: leftovers in the resumed run`);
        outcome = 'resumed';
      }
      outcomes[`${aim} ${outcome}`] = (outcomes[`${aim} ${outcome}`] ?? 0) + 1;
    }
    // Killed writers leave their lock and staging folders; the next writer of that folder removes them.
    const stray = readdirSync(tmp).filter((n) => /\.(tmp|old)-\d+(-[0-9a-f]{16})?$/.test(n) || n.endsWith('.lock'));
    console.log(`      kill outcomes: ${JSON.stringify(outcomes)}; leftovers of killed writers awaiting cleanup: ${stray.length}`);
    assert.ok(Object.keys(outcomes).some((k) => k.endsWith('resumed')), 'no kill left a folder to resume');
  });
});
