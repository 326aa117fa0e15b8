/**
 * The docs' commands, run as written. Every fenced block marked ```sh runnable in README.md and
 * docs/*.md runs line by line in a scratch folder (blocks of one file share it, in order), with
 * `npx onnx-diffusion` meaning this checkout's built CLI. A line whose comment says
 * `picture: docs/images/X.png` must write (its `--out`) exactly that picture's pixels. Paths the
 * docs name inside the package (src/, docs/, models/, graphs/, test/fixtures/, tools/) must exist.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { repoRoot } from '../helpers/paths';

interface Command { file: string; line: number; text: string; picture?: string }

/** The markdown files a user reads: README.md and docs/*.md. */
function docFiles(root: string): string[] {
  return ['README.md', ...fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
}

/** Commands of the ```sh runnable blocks of one file: continuation lines joined, comments split off. */
export function runnableCommands(file: string, text: string): Command[] {
  const out: Command[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash) runnable\s*$/.test(lines[i])) continue;
    let cmd = '';
    let start = 0;
    for (i++; i < lines.length && !lines[i].startsWith('```'); i++) {
      if (cmd === '') start = i + 1;
      const l = lines[i];
      if (l.endsWith('\\')) { cmd += l.slice(0, -1) + ' '; continue; }
      cmd += l;
      const m = /^(.*?)(?:\s+#\s*(.*))?$/.exec(cmd)!;
      const body = m[1].trim();
      if (body && !body.startsWith('#')) {
        const pic = /picture: (\S+\.png)/.exec(m[2] ?? '');
        out.push({ file, line: start, text: body, picture: pic?.[1] });
      }
      cmd = '';
    }
  }
  return out;
}

async function rgb(file: string): Promise<Buffer> {
  return sharp(file).removeAlpha().raw().toBuffer();
}

describe('docs: commands marked runnable run as written', function () {
  this.timeout(20 * 60_000);
  const root = repoRoot();
  const cli = path.join(root, 'dist', 'cli', 'main.js');

  it('the block parser joins continuations, drops comments and reads picture notes', () => {
    const md = ['```sh runnable', 'npx onnx-diffusion a \\', '  --b 1   # picture: docs/images/x.png', '# only a comment', '```', '```sh', 'not run', '```'].join('\n');
    assert.deepEqual(runnableCommands('R.md', md), [{ file: 'R.md', line: 2, text: 'npx onnx-diffusion a    --b 1', picture: 'docs/images/x.png' }]);
  });

  for (const file of docFiles(root)) {
    const commands = runnableCommands(file, fs.readFileSync(path.join(root, file), 'utf8'));
    if (commands.length === 0) continue;
    it(`${file}: ${commands.length} command(s)`, async () => {
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'od-docs-'));
      try {
        for (const dir of ['test', 'graphs']) fs.symlinkSync(path.join(root, dir), path.join(scratch, dir));
        for (const c of commands) {
          const words = c.text.replace(/^npx onnx-diffusion\b/, `${JSON.stringify(process.execPath)} ${JSON.stringify(cli)}`);
          const r = spawnSync('bash', ['-c', words], { cwd: scratch, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
          assert.equal(r.status, 0, `${c.file}:${c.line}: \`${c.text}\` exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
          if (c.picture) {
            const outFile = /--out\s+(\S+)/.exec(c.text)?.[1];
            assert.ok(outFile, `${c.file}:${c.line}: a picture note needs an --out`);
            const [got, want] = await Promise.all([rgb(path.join(scratch, outFile)), rgb(path.join(root, c.picture))]);
            assert.ok(got.equals(want), `${c.file}:${c.line}: ${outFile} differs from ${c.picture}`);
          }
        }
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
      }
    });
  }

  it('every package path the docs name in backticks or links exists', () => {
    const missing: string[] = [];
    for (const file of docFiles(root)) {
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      const base = path.dirname(path.join(root, file));
      for (const m of text.matchAll(/(?:`|\]\()((?:\.\.\/)*(?:src|docs|models\/[\w.-]+|graphs|test\/fixtures|tools)\/[\w./-]+?)(?:[`)#\s]|$)/g)) {
        const p = m[1].replace(/[.,:]+$/, '');
        if (/[*]|<|>/.test(p)) continue;
        const rel = p.startsWith('../') ? path.resolve(base, p) : path.resolve(root, p);
        const alt = path.resolve(base, p);
        if (![rel, alt, `${rel}.ts`, `${rel}.md`].some((f) => fs.existsSync(f))) missing.push(`${file}: ${p}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('no doc names a ../ path that leaves the package or does not exist', () => {
    const bad: string[] = [];
    for (const file of docFiles(root)) {
      const base = path.dirname(path.join(root, file));
      for (const m of fs.readFileSync(path.join(root, file), 'utf8').matchAll(/(?:`|\]\()((?:\.\.\/)+[\w./-]*)/g)) {
        const p = m[1].replace(/[.,:]+$/, '');
        const abs = path.resolve(base, p);
        if (!abs.startsWith(root + path.sep) || !fs.existsSync(abs)) bad.push(`${file}: ${p}`);
      }
    }
    assert.deepEqual(bad, []);
  });
});
