import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { importsOf } from './helpers/layers';
import { blockChildProcesses, isBlocked } from './helpers/no-spawn';
import { repoRoot } from './helpers/paths';

/** Every file under test/, relative to the repository root. */
function testFiles(dir = 'test'): string[] {
  return fs.readdirSync(path.join(repoRoot(), dir), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? testFiles(`${dir}/${e.name}`) : [`${dir}/${e.name}`]));
}

/** A spec glob as mocha reads it ({a,b} alternatives, ** any folders, * within a name) as a RegExp. */
function globRegExp(glob: string): RegExp {
  const re = glob
    .replace(/[.+^$()|[\]\\]/g, '\\$&')
    .replace(/\{([^}]*)\}/g, (_, alts: string) => `(${alts.split(',').join('|')})`)
    .replace(/\*\*\//g, '(.+/)?')
    .replace(/\*/g, '[^/]*');
  return new RegExp(`^${re}$`);
}

/** Test files a mocha config's spec globs name. */
function specFiles(config: string): Set<string> {
  const tier = process.env.ONNX_DIFFUSION_TEST_TIER;
  const { spec = [], ignore = [] } = require(path.join(repoRoot(), config)) as { spec?: string[]; ignore?: string[] };
  // Reading .mocharc.unit.cjs marks the process as the unit tier: undo that here.
  if (tier === undefined) delete process.env.ONNX_DIFFUSION_TEST_TIER;
  else process.env.ONNX_DIFFUSION_TEST_TIER = tier;
  const [take, skip] = [spec.map(globRegExp), ignore.map(globRegExp)];
  return new Set(testFiles().filter((f) => take.some((r) => r.test(f)) && !skip.some((r) => r.test(f))));
}

/** Child-process and browser imports of a test file (helpers/cli only counts for its spawning helpers). */
function spawningImports(file: string): string[] {
  const text = fs.readFileSync(path.join(repoRoot(), file), 'utf8');
  const bad = importsOf(text).filter((s) => /^(node:)?child_process$|^playwright/.test(s));
  const helper = /import\s*\{([^}]*)\}\s*from\s*'[./]*helpers\/cli'/.exec(text)?.[1] ?? '';
  const spawners = helper.split(',').map((n) => n.trim()).filter((n) => ['cli', 'runCli', 'spawnCli'].includes(n));
  return [...bad, ...spawners.map((n) => `helpers/cli ${n}`)];
}

describe('test tiers: npm run test:unit (.mocharc.unit.cjs) and npm test (.mocharc.cjs)', () => {
  // .mocharc.cjs drops its spec when a file is named on the command line: read it as npm test does.
  const full = (() => {
    const argv = process.argv;
    process.argv = [argv[0], argv[1]];
    try {
      delete require.cache[require.resolve(path.join(repoRoot(), '.mocharc.cjs'))];
      return specFiles('.mocharc.cjs');
    } finally {
      process.argv = argv;
    }
  })();
  const unit = specFiles('.mocharc.unit.cjs');

  it('npm test runs every test file, and the unit tier is a part of it', () => {
    const all = testFiles().filter((f) => f.endsWith('.test.ts'));
    assert.deepEqual(all.filter((f) => !full.has(f)), []);
    assert.ok(unit.size >= 50, `the unit tier names ${unit.size} files`);
    assert.deepEqual([...unit].filter((f) => !full.has(f)), []);
    assert.ok(unit.has('test/autodiff/elementwise.test.ts') && !unit.has('test/nn/recipes.test.ts') && !unit.has('test/cli/train.test.ts'));
  });

  it('no unit-tier test file imports child_process, a browser driver or the spawning CLI helpers', () => {
    const offenders = [...unit].map((f) => [f, spawningImports(f)] as const).filter(([, s]) => s.length > 0).map(([f, s]) => `${f}: ${s.join(', ')}`);
    assert.deepEqual(offenders, []);
    // The check itself sees a spawning file.
    assert.deepEqual(spawningImports('test/cli/train.test.ts'), ['node:child_process', 'helpers/cli cli']);
  });

  it('the unit tier blocks child processes: a blocked spawn throws by name, and child_process is blocked exactly in that tier', () => {
    const standIn: Record<string, unknown> = { spawnSync: () => 'ran' };
    blockChildProcesses(standIn);
    assert.throws(() => (standIn.spawnSync as () => void)(), /^Error: child_process\.spawnSync: the unit tier \(npm run test:unit\) starts no child process/);
    // Reached without an import, so that this file passes its own check.
    const childProcess = process.getBuiltinModule('node:child_process') as unknown as Record<string, unknown>;
    assert.equal(isBlocked(childProcess), process.env.ONNX_DIFFUSION_TEST_TIER === 'unit');
  });
});
