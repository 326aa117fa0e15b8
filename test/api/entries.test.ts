/**
 * The package's entries (docs/library.md, "Entries"): package.json `exports` and `typesVersions`
 * name each subpath and its built files, the docs' table lists exactly those subpaths, the root
 * stays the user-level API, and every name the docs import from an entry is exported by it.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../helpers/paths';

const root = repoRoot();
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>; typesVersions: Record<string, Record<string, string[]>>;
};
const SUBPATHS = Object.keys(pkg.exports).filter((k) => k.startsWith('./') && k !== './package.json' && k !== './web').map((k) => k.slice(2));

/** The source module of an entry, as a test imports it. */
const sourceOf = (entry: string): string => {
  if (entry === 'onnx-diffusion') return path.join(root, 'src', 'index.ts');
  const sub = entry.slice('onnx-diffusion/'.length);
  return sub === 'web' ? path.join(root, 'src', 'web', 'index.ts') : path.join(root, 'src', 'entries', `${sub}.ts`);
};

/** `import { a, type B, c as d } from 'onnx-diffusion[/x]'` lines of README.md and docs/*.md: the value names per entry. */
function docImports(): { file: string; entry: string; names: string[] }[] {
  const files = ['README.md', ...fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const out: { file: string; entry: string; names: string[] }[] = [];
  for (const file of files) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    for (const m of text.matchAll(/^import\s+\{([^}]*)\}\s+from\s+'(onnx-diffusion(?:\/[a-z]+)?)'/gm)) {
      const names = m[1].split(',').map((n) => n.trim()).filter((n) => n && !n.startsWith('type ')).map((n) => n.split(/\s+as\s+/)[0]);
      out.push({ file, entry: m[2], names });
    }
  }
  return out;
}

describe('package entries: the root and the subpaths (package.json exports, src/entries/)', () => {
  it('each subpath has require, import and types, pointing at the files the build writes for src/entries/<name>.ts, and a typesVersions entry', () => {
    assert.deepEqual(SUBPATHS.sort(), ['autodiff', 'diffusion', 'eval', 'graph', 'train']);
    for (const sub of SUBPATHS) {
      assert.ok(fs.existsSync(path.join(root, 'src', 'entries', `${sub}.ts`)), `src/entries/${sub}.ts`);
      assert.deepEqual(pkg.exports[`./${sub}`], {
        import: { types: `./dist/${sub}.d.mts`, default: `./dist/${sub}.mjs` },
        default: { types: `./dist/entries/${sub}.d.ts`, default: `./dist/entries/${sub}.js` },
      });
      assert.deepEqual(pkg.typesVersions['*'][sub], [`dist/entries/${sub}.d.ts`]);
    }
    assert.deepEqual(pkg.typesVersions['*'].web, ['dist/web/index.d.ts']);
    assert.deepEqual(fs.readdirSync(path.join(root, 'src', 'entries')).sort(), SUBPATHS.map((s) => `${s}.ts`).sort(), 'every file of src/entries/ is exported');
  });

  it("docs/library.md's table of entries lists the root, every subpath and the web entry, each with its source file", () => {
    const text = fs.readFileSync(path.join(root, 'docs', 'library.md'), 'utf8');
    const rows = [...text.matchAll(/^\| `(onnx-diffusion[^`]*)` \| `([^`]+)` \|/gm)].map((m) => [m[1], m[2]]);
    const expected = [['onnx-diffusion', 'src/index.ts'], ...SUBPATHS.map((s) => [`onnx-diffusion/${s}`, `src/entries/${s}.ts`]), ['onnx-diffusion/web', 'src/web/index.ts']];
    assert.deepEqual(rows.sort(), expected.sort());
  });

  it('the root is the user-level API: under 60 values, none of the deeper layers, and each deeper name in its subpath', async () => {
    const rootEntry = (await import(sourceOf('onnx-diffusion'))) as Record<string, unknown>;
    const names = Object.keys(rootEntry).filter((k) => k !== 'default' && k !== '__esModule');
    assert.ok(names.length < 60, `${names.length} names: ${names.join(', ')}`);
    const deeper: Record<string, string[]> = {
      graph: ['Builder', 'Graph', 'Tensor', 'encodeSafetensors', 'decodeNpy', 'planExternalData'],
      autodiff: ['grad', 'gradGraph'],
      train: ['buildTrainGraph', 'buildStepGraph', 'TrainingRun', 'GraphTrainer', 'insertLora', 'openDataset', 'diffusionLoss'],
      diffusion: ['schedules', 'makeSchedule', 'qSample', 'runSampler', 'DdimScheduler', 'sampleCascade'],
      eval: ['FeatureNet', 'frechetDistance'],
    };
    for (const [sub, list] of Object.entries(deeper)) {
      const entry = (await import(sourceOf(`onnx-diffusion/${sub}`))) as Record<string, unknown>;
      for (const n of list) {
        assert.ok(!(n in rootEntry), `${n} is in the root; it belongs to onnx-diffusion/${sub}`);
        assert.equal(typeof entry[n], n === 'schedules' ? 'object' : 'function', `onnx-diffusion/${sub} exports ${n}`);
      }
    }
  });

  it('every name README.md and docs/*.md import from an entry is exported by that entry', async () => {
    const imports = docImports();
    assert.ok(imports.length >= 10 && imports.some((i) => i.entry === 'onnx-diffusion/train'), `${imports.length} doc imports`);
    const missing: string[] = [];
    for (const { file, entry, names } of imports) {
      const mod = (await import(sourceOf(entry))) as Record<string, unknown>;
      for (const n of names) if (!(n in mod)) missing.push(`${file}: ${n} from '${entry}'`);
    }
    assert.deepEqual(missing, []);
  });
});
