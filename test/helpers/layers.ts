/**
 * The layering check (docs/architecture.md): reads every import of src/ and reports those that
 * point up the layer order, between same-level folders, or from browser-shared code to Node.
 * A short scanner rather than dependency-cruiser: see README, "Built on".
 */
import { builtinModules } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Bottom to top; a folder may import only folders on lower rows (and itself). */
export const LAYERS: readonly (readonly string[])[] = [
  ['core'],
  ['onnx'],
  ['autodiff', 'nn', 'data', 'image'],
  ['diffusion'],
  ['runtime'],
  ['eval'],
  ['train'],
  ['web', 'cli'],
];

/** Same-level imports that are allowed, each with the reason. */
export const SIBLING_EXCEPTIONS: Readonly<Record<string, string>> = {
  'data -> image': 'an image-folder data set decodes its files with image/read (sharp); image never imports data',
};

/** Folders the browser bundle uses: they import no Node module (DESIGN.md, "Layout"). */
export const BROWSER_SHARED = ['core', 'onnx', 'autodiff', 'diffusion'];
/**
 * The pure part of train/ that the page's trainer (src/web/trainer.ts) runs: the training-graph builder and losses, the training run,
 * optimizer, schedules, parameter layout, feeds, setup from model bytes, memory estimate. A path
 * ending in / is a folder. Its Node-facing neighbours (trainer loop, checkpoints, run dirs) stay Node-only.
 */
export const BROWSER_SHARED_FILES = [
  'train/step-graph.ts', 'train/train-graph.ts', 'train/optim.ts', 'train/optimize/', 'train/params.ts', 'train/lr.ts',
  'train/hyper.ts', 'train/feeds.ts', 'train/cond-feeds.ts', 'train/sr.ts', 'train/setup-from-model.ts', 'train/step-memory.ts',
  'train/losses.ts', 'train/training-run.ts', 'train/caption-encode.ts', 'train/lora-setup.ts',
];
/** The browser entry: every file it reaches through imports must be browser-safe too. */
export const BROWSER_ENTRY = 'web/index.ts';
/** The Node side of core (bounded file reads, free memory): the one place in core that may use Node APIs. */
export const NODE_CORE = 'core/node/';
const browserShared = (rel: string, folder: string): boolean =>
  (BROWSER_SHARED.includes(folder) || BROWSER_SHARED_FILES.some((f) => (f.endsWith('/') ? rel.startsWith(f) : rel === f))) && !rel.startsWith(NODE_CORE);
const NODE_ONLY = new Set([...builtinModules, 'sharp', 'onnxruntime-node']);

/** Files directly in src/ (the package root entry) and the subpath entries in src/entries/ sit above every folder. */
const ROOT = '.';
/** The folder of the package's subpath entries (`onnx-diffusion/graph`, ...): the entry level, like src/index.ts. */
export const ENTRIES = 'entries';

function rank(folder: string): number {
  if (folder === ROOT) return LAYERS.length;
  const r = LAYERS.findIndex((row) => row.includes(folder));
  if (r < 0) throw new Error(`src/${folder}/ is in no layer: add it to LAYERS in test/helpers/layers.ts and to docs/architecture.md`);
  return r;
}

/** The module specifiers a TypeScript file imports (static, re-exports, dynamic, require), comments ignored. */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const specs: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) specs.push(m[1]);
  return specs;
}

const name = (folder: string): string => (folder === ROOT ? 'the package entries (src/*.ts, src/entries/)' : `${folder}/`);

/** The layer order as one line, for messages. */
export const ORDER = LAYERS.map((row) => row.join(', ')).join(' < ');

const folderOf = (rel: string): string => (rel.includes('/') && rel.split('/')[0] !== ENTRIES ? rel.split('/')[0] : ROOT);

/**
 * Violations in a set of files given as {path relative to src: source text}; each names the file,
 * the import and the rule it breaks.
 */
export function checkFiles(files: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const [rel, text] of Object.entries(files)) {
    const from = folderOf(rel);
    for (const spec of importsOf(text)) {
      if (!spec.startsWith('.')) {
        const pkg = spec.startsWith('node:') ? spec.slice(5) : spec.split('/')[0];
        if (browserShared(rel, from) && (spec.startsWith('node:') || NODE_ONLY.has(pkg))) {
          out.push(`src/${rel}: imports '${spec}', but ${BROWSER_SHARED.includes(from) ? `src/${from}/` : 'it'} runs in the browser and may import no Node module`);
        }
        continue;
      }
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec));
      if (target.startsWith('..')) {
        out.push(`src/${rel}: imports '${spec}' from outside src/`);
        continue;
      }
      if (`${target}/`.startsWith(NODE_CORE) && browserShared(rel, from)) {
        out.push(`src/${rel}: imports '${spec}', but src/${NODE_CORE} uses Node APIs and ${BROWSER_SHARED.includes(from) ? `src/${from}/` : 'it'} runs in the browser`);
      }
      // `../nn` is the folder's index; `../index` (a file of src/ itself) is the package entry.
      const to = target.includes('/') ? folderOf(target) : `${target}.ts` in files || target === '.' ? ROOT : target;
      if (to === from) continue;
      const [rf, rt] = [rank(from), rank(to)];
      if (rt > rf) out.push(`src/${rel}: imports '${spec}', but ${name(to)} ${to === ROOT ? 'are' : 'is'} above ${name(from)}`);
      else if (rt === rf && !(`${from} -> ${to}` in SIBLING_EXCEPTIONS)) out.push(`src/${rel}: imports '${spec}', but ${name(to)} and ${name(from)} are on the same level`);
    }
  }
  return out;
}

/** The .ts file a relative import of `rel` resolves to among `files` (a file, or a folder's index.ts). */
function resolveImport(files: Readonly<Record<string, string>>, rel: string, spec: string): string | undefined {
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec));
  return [`${target}.ts`, `${target}/index.ts`].find((f) => f in files);
}

/**
 * Node modules reached from the browser entry: walks every static and dynamic relative import
 * from `entry` and reports each reached file that imports a Node module, with the import chain.
 */
export function checkBrowserClosure(files: Readonly<Record<string, string>>, entry = BROWSER_ENTRY): string[] {
  if (!(entry in files)) return [];
  const via = new Map<string, string | null>([[entry, null]]);
  const queue = [entry];
  const out: string[] = [];
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    for (const spec of importsOf(files[f])) {
      if (!spec.startsWith('.')) {
        const pkg = spec.startsWith('node:') ? spec.slice(5) : spec.split('/')[0];
        if (spec.startsWith('node:') || NODE_ONLY.has(pkg)) {
          const chain: string[] = [];
          for (let k: string | null | undefined = f; k; k = via.get(k)) chain.unshift(`src/${k}`);
          out.push(`src/${f}: imports '${spec}', but the browser entry reaches it (${chain.join(' -> ')})`);
        }
        continue;
      }
      const to = resolveImport(files, f, spec);
      if (to && !via.has(to)) {
        via.set(to, f);
        queue.push(to);
      }
    }
  }
  return out;
}

/** Reads every .ts file under `srcDir` and checks it. */
export function checkLayers(srcDir: string): string[] {
  const files: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) files[path.relative(srcDir, p).split(path.sep).join('/')] = fs.readFileSync(p, 'utf8');
    }
  };
  walk(srcDir);
  return [...checkFiles(files), ...checkBrowserClosure(files)];
}
