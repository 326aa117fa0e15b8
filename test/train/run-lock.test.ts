import * as assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, renameSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDir } from '../../src/train/run-dir';
import { lockPathFor } from '../../src/train/run-lock';
import { repoRoot } from '../helpers/paths';

/** A long-lived child that opens run folders on request (test/fixtures/rel/lock-holder.ts). */
function holder(): { child: ChildProcess; ask: (line: string) => Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/rel/lock-holder.ts'], { cwd: repoRoot(), stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: ((s: string) => void)[] = [];
  let buf = '';
  child.stdout!.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      waiting.shift()?.(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  return { child, ask: (line) => new Promise((resolve) => (waiting.push(resolve), child.stdin!.write(`${line}\n`))) };
}

describe('run lock: keyed on the real path, bounded and honest about odd lock files', function () {
  this.timeout(120_000);
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), 'od-lock-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('a folder and a symlink to it share one lock: exactly one of two racing writers gets it, 20 tries of 20', async () => {
    const a = holder();
    const b = holder();
    try {
      for (let k = 0; k < 20; k++) {
        const real = join(tmp, `rr${k}`);
        mkdirSync(real);
        symlinkSync(real, join(tmp, `rrlink${k}`));
        const [ra, rb] = await Promise.all([a.ask(`open ${real}`), b.ask(`open ${join(tmp, `rrlink${k}`)}`)]);
        assert.equal([ra, rb].filter((r) => r === 'got').length, 1, `try ${k}: ${ra} / ${rb}`);
        assert.match(ra === 'got' ? rb : ra, /in use by another run \(pid \d+/);
        await Promise.all([a.ask('close'), b.ask('close')]);
      }
    } finally {
      a.child.kill();
      b.child.kill();
    }
  });

  it('the lock of a link is the lock of its target; of an absent folder, the real parent plus the name', () => {
    mkdirSync(join(tmp, 'real', 'rr'), { recursive: true });
    symlinkSync(join(tmp, 'real'), join(tmp, 'parentlink'));
    symlinkSync(join(tmp, 'real', 'rr'), join(tmp, 'rrlink'));
    assert.equal(lockPathFor(join(tmp, 'rrlink')), lockPathFor(join(tmp, 'real', 'rr')));
    assert.equal(lockPathFor(join(tmp, 'parentlink', 'new')), `${join(tmp, 'real', 'new')}.lock`);
  });

  it('a lock that is /dev/zero, a FIFO, 200 MB, a symlink or a dangling symlink is refused at once with a true message', () => {
    const dir = join(tmp, 'run');
    const lock = lockPathFor(dir);
    const cases: [string, () => void, RegExp][] = [
      ['/dev/zero link', () => symlinkSync('/dev/zero', lock), /lock file .* is a symbolic link, not a lock this program wrote/],
      ['dangling link', () => symlinkSync(join(tmp, 'nowhere'), lock), /is a dangling symbolic link/],
      ['FIFO', () => execFileSync('mkfifo', [lock]), /unreadable or not a lock \(a regular file of at most 64 KiB\)/],
      ['200 MB', () => (writeFileSync(lock, ''), truncateSync(lock, 200 * 2 ** 20)), /unreadable or not a lock/],
    ];
    for (const [what, make, msg] of cases) {
      rmSync(lock, { force: true });
      make();
      const t = Date.now();
      assert.throws(() => RunDir.open(dir, 'fresh'), msg, what);
      assert.ok(Date.now() - t < 2000, `${what} took ${Date.now() - t} ms`);
    }
  });

  it('a stale lock that cannot be removed (immutable, or a read-only folder) says so instead of looping', () => {
    const parent = join(tmp, 'ro');
    mkdirSync(parent);
    const dir = join(parent, 'run');
    const lock = lockPathFor(dir);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(lock, JSON.stringify({ pid: dead, host: hostname(), started: 'then' }));
    // root ignores folder permissions but not the immutable flag; other users the reverse
    let undo: () => void;
    try {
      execFileSync('chattr', ['+i', lock], { stdio: 'ignore' });
      undo = () => execFileSync('chattr', ['-i', lock]);
    } catch {
      chmodSync(parent, 0o555);
      undo = () => chmodSync(parent, 0o755);
    }
    // Where neither holds (root on a file system without the immutable flag) the lock is removable:
    // then the stale lock must be taken over as usual.
    let removable = true;
    try {
      renameSync(lock, `${lock}.probe`);
      renameSync(`${lock}.probe`, lock);
    } catch {
      removable = false;
    }
    try {
      if (removable) return RunDir.open(dir, 'fresh').close();
      assert.throws(() => RunDir.open(dir, 'fresh'), new RegExp(`^FileFormatError: ${lock}\\.tmp-\\d+: cannot write the lock file \\(permission denied|^DiffusionError: ${lock}: stale lock \\(pid ${dead} is gone\\) that cannot be removed \\((EPERM|EACCES): immutable, read-only or not yours\\); remove it by hand`));
    } finally {
      undo();
    }
  });
});
