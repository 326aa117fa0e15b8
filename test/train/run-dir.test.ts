import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { OWNER_FILE } from '../../src/core/node/owned';
import { writeFileAtomic } from '../../src/core/node/atomic-file';
import { loadState } from '../../src/train/checkpoint';
import { RunDir } from '../../src/train/run-dir';
import { lockPathFor } from '../../src/train/run-lock';
import { runCli, spawnCli } from '../helpers/cli';

/** A pid that is certainly dead: a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

const trainArgs = (out: string, extra: string[] = []) => ['train', '--recipe', 'graphs/unet-tiny.json', '--batch', '2', '--threads', '1',
  '--sample-every', '0', '--data', 'synthetic:16', '--out', out, ...extra];

describe('run folders: lock, refusal, leftovers', function () {
  this.timeout(120_000);
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), 'od-rundir-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('a second writer of the same folder is refused with one line naming the holder', () => {
    const dir = join(tmp, 'run');
    const a = RunDir.open(dir, 'fresh');
    try {
      assert.throws(() => RunDir.open(dir, 'fresh'), new RegExp(`in use by another run \\(pid ${process.pid}, since .*lock file ${lockPathFor(dir)}`));
      assert.throws(() => RunDir.open(dir, 'overwrite'), /in use by another run/);
    } finally {
      a.close();
    }
    assert.ok(!existsSync(lockPathFor(dir)), 'the lock outlived its run');
    assert.ok(!existsSync(dir), 'a run closed before its first checkpoint left its folder');
  });

  it('a lock whose pid is dead is stale and taken over', () => {
    const dir = join(tmp, 'run');
    writeFileSync(lockPathFor(dir), JSON.stringify({ pid: deadPid(), host: hostname(), started: 'then' }));
    const r = RunDir.open(dir, 'fresh');
    assert.equal(JSON.parse(readFileSync(lockPathFor(dir), 'utf8')).pid, process.pid);
    r.close();
  });

  it('a lock held on another host is not broken: the message says how to clear it', () => {
    const dir = join(tmp, 'run');
    writeFileSync(lockPathFor(dir), JSON.stringify({ pid: 1, host: 'elsewhere', started: 'then' }));
    assert.throws(() => RunDir.open(dir, 'fresh'), /pid 1 on host elsewhere .*delete .*run\.lock/);
  });

  it('leftovers of dead writers are cleaned (proven by name and marker), and a state swap cut in half is completed', () => {
    const dir = join(tmp, 'run');
    const pid = deadPid();
    mkdirSync(join(dir, `state.old-${pid}`), { recursive: true });
    writeFileSync(join(dir, `state.old-${pid}`, 'state.json'), '{}');
    mkdirSync(join(dir, `state.tmp-${pid}`));
    writeFileSync(join(dir, 'model.onnx'), 'x');
    const plant = (target: string, tag: string) => {
      const id = '0123456789abcdef';
      const p = `${target}.${tag}-${pid}-${id}`;
      mkdirSync(p);
      writeFileSync(join(p, OWNER_FILE), JSON.stringify({ pid, id, host: hostname(), target: basename(target) }));
      return p;
    };
    const staleWrite = plant(join(dir, 'model.onnx'), 'tmp');
    mkdirSync(join(dir, 'samples'));
    const staleSample = plant(join(dir, 'samples', 'step-000002.png'), 'tmp');
    writeFileSync(join(dir, 'samples', `step-000004.png.tmp-${pid}`), 'a user file named like a leftover');
    const staleRun = plant(dir, 'tmp');
    const r = RunDir.open(dir, 'overwrite');
    r.close();
    for (const p of [`state.tmp-${pid}`, `state.old-${pid}`]) assert.ok(!existsSync(join(dir, p)), p);
    assert.ok(!existsSync(staleWrite) && !existsSync(staleRun) && !existsSync(staleSample));
    assert.ok(existsSync(join(dir, 'samples', `step-000004.png.tmp-${pid}`)));
    assert.ok(existsSync(join(dir, 'state', 'state.json')), 'state.old was not put back as state');
  });

  it('a kill between the two renames of --overwrite: the old run (marked) is put back', () => {
    const dir = join(tmp, 'run');
    const pid = deadPid();
    const id = 'fedcba9876543210';
    const old = `${dir}.old-${pid}-${id}`;
    mkdirSync(join(old, 'state'), { recursive: true });
    writeFileSync(join(old, 'state', 'state.json'), '{}');
    writeFileSync(join(old, OWNER_FILE), JSON.stringify({ pid, id, host: hostname(), target: 'run' }));
    RunDir.open(dir, 'resume').close();
    assert.ok(existsSync(join(dir, 'state', 'state.json')) && !existsSync(old) && !existsSync(join(dir, OWNER_FILE)));
  });

  it('files and folders a user named like leftovers are never touched (issue 26)', async () => {
    const dir = join(tmp, 'run');
    const pid = deadPid();
    const user = [`run.backup.old-20240101/f`, `run.csv.tmp-31337`, `run.log.stale-4000000`, `run.old-${pid}/f`, `run.tmp-${pid}/f`,
      `run.tmp-${pid}-0123456789abcdef/f`, `run.lock.stale-4000000`];
    // a marker that does not match the folder's name proves nothing
    const forged = `run.tmp-${pid}-aaaaaaaaaaaaaaaa`;
    mkdirSync(join(tmp, forged));
    writeFileSync(join(tmp, forged, OWNER_FILE), JSON.stringify({ pid, id: 'bbbbbbbbbbbbbbbb', host: hostname(), target: 'run' }));
    for (const f of user) {
      mkdirSync(dirname(join(tmp, f)), { recursive: true });
      writeFileSync(join(tmp, f), 'mine');
    }
    const r = await runCli(trainArgs(dir, ['--steps', '1']));
    assert.equal(r.code, 0, r.stderr);
    for (const f of [...user, forged]) assert.ok(existsSync(join(tmp, f)), `${f} was deleted`);
    const notes = join(tmp, 'newrun.notes.old-20240101');
    writeFileSync(notes, 'mine');
    assert.equal((await runCli(trainArgs(join(tmp, 'newrun'), ['--steps', '1']))).code, 0);
    assert.ok(existsSync(notes));
  });

  it('a killed writer\'s temp folder is removed by the next writer to the same output; a user\'s OUT.tmp-<n> is kept', async () => {
    const out = join(tmp, 'x.bin');
    const pid = deadPid();
    const id = '00112233445566aa';
    const stale = `${out}.tmp-${pid}-${id}`;
    mkdirSync(stale);
    writeFileSync(join(stale, 'x.bin'), 'half');
    writeFileSync(join(stale, OWNER_FILE), JSON.stringify({ pid, id, host: hostname(), target: 'x.bin' }));
    writeFileSync(`${out}.tmp-${pid}`, 'user file');
    await writeFileAtomic(out, 'whole');
    assert.ok(!existsSync(stale));
    assert.equal(readFileSync(`${out}.tmp-${pid}`, 'utf8'), 'user file');
    assert.equal(readFileSync(out, 'utf8'), 'whole');
    assert.deepEqual(readdirSync(tmp).sort(), ['x.bin', `x.bin.tmp-${pid}`]);
  });

  it('a folder holding a run is refused without --resume or --overwrite; --overwrite keeps the old run until the new one has a checkpoint', () => {
    const dir = join(tmp, 'run');
    mkdirSync(join(dir, 'state'), { recursive: true });
    writeFileSync(join(dir, 'state', 'state.json'), '{}');
    assert.throws(() => RunDir.open(dir, 'fresh'), /already holds a run; pass `resume` .* or `overwrite`/);
    const r = RunDir.open(dir, 'overwrite');
    assert.ok(existsSync(join(dir, 'state', 'state.json')));
    writeFileSync(join(r.path, 'new'), '1');
    r.commit();
    r.close();
    assert.ok(existsSync(join(dir, 'new')) && !existsSync(join(dir, 'state')));
  });

  it('--resume of a folder without a checkpoint says so; an unrelated non-empty folder is never taken', () => {
    mkdirSync(join(tmp, 'empty'));
    assert.throws(() => RunDir.open(join(tmp, 'empty'), 'resume'), /this run has no checkpoint yet/);
    assert.throws(() => RunDir.open(join(tmp, 'absent'), 'resume'), /no such run folder/);
    mkdirSync(join(tmp, 'docs'));
    writeFileSync(join(tmp, 'docs', 'notes.txt'), 'mine');
    assert.throws(() => RunDir.open(join(tmp, 'docs'), 'overwrite'), /not empty and holds no run/);
  });

  it('two train processes on one --out: the second is refused, --resume of the live run too, and nothing mixes', async () => {
    const out = join(tmp, 'live');
    const a = spawnCli(trainArgs(out, ['--steps', '100000', '--save-every', '1', '--seed', '1', '--log-every', '1']));
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => a.on('close', resolve));
    await new Promise<void>((resolve) => a.stderr!.on('data', (d) => {
      stderr += d;
      if (/step 2\//.test(stderr)) resolve();
    }));
    const b = await runCli(trainArgs(out, ['--steps', '3', '--seed', '2']));
    assert.equal(b.code, 1);
    assert.match(b.stderr, new RegExp(`^error: ${out}: in use by another run \\(pid ${a.pid},`));
    assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
    const over = await runCli(trainArgs(out, ['--steps', '3', '--overwrite']));
    assert.match(over.stderr, /in use by another run/);
    const c = await runCli(['train', '--resume', out]);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /in use by another run/);
    a.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    const saved = JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')) as { options: { seed: number }; step: number };
    assert.equal(saved.options.seed, 1);
    assert.equal(saved.step, loadState(out).meta.step);
  });

  it('a NaN at step 1 says no checkpoint was written, and leaves no folder', async () => {
    const out = join(tmp, 'nan');
    const r = await runCli(trainArgs(out, ['--steps', '5', '--lr', '1e30', '--warmup', '0', '--lr-decay', 'constant', '--grad-clip', '0']));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /loss is (NaN|-?Infinity) at step \d+ .*(no checkpoint was written yet|kept \(step [1-9])/);
    assert.ok(!/kept \(step 0\)/.test(r.stderr));
  });
});
