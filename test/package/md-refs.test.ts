import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../helpers/paths';
import { unshippedMdRefs } from './md-refs';

// The fast half of the pack test's check (test/package/install.test.ts runs it on the installed
// tarball): the file list of `npm pack --dry-run`, no build, so dist/ counts only when built.
describe('package: shipped docs name only files the package ships', () => {
  it('no shipped .md (docs/, README.md, model cards) or dist file names a .md file missing from `npm pack`', () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
    const out = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot(), env, encoding: 'utf8' }));
    const files = (out as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    assert.ok(files.includes('docs/cuda.md') && files.includes('README.md'), files.slice(0, 20).join(', '));
    assert.deepEqual(unshippedMdRefs(repoRoot(), files), []);
  });

  it('the check catches an internal note, a repository-only README, and accepts relative and installed paths', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-mdrefs-'));
    try {
      const write = (f: string, s: string) => { fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true }); fs.writeFileSync(path.join(dir, f), s); };
      write('README.md', 'see docs/cuda.md, [card](models/m/README.md), DESIGN.md and ../notes/GPU.md; `.md` files');
      write('docs/cuda.md', 'see web.md, ../README.md, tools/examples/README.md');
      write('docs/web.md', '');
      write('models/m/README.md', 'see ../../docs/web.md');
      write('dist/a.js', "console.log('see .../node_modules/onnx-diffusion/docs/cuda.md or PERF-NOTES.md')");
      const files = ['README.md', 'docs/cuda.md', 'docs/web.md', 'models/m/README.md', 'dist/a.js'];
      assert.deepEqual(unshippedMdRefs(dir, files).sort(), [
        'README.md: ../notes/GPU.md', 'README.md: DESIGN.md', 'dist/a.js: PERF-NOTES.md', 'docs/cuda.md: tools/examples/README.md',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
