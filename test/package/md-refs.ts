import * as fs from 'node:fs';
import * as path from 'node:path';

/** Shipped files a user reads: the docs, the READMEs, and the built code and its types (messages, --help, TSDoc). */
const READ = /^(docs\/[^/]+\.md|README\.md|models\/[^/]+\/README\.md|dist\/.*\.(m?js|d\.m?ts))$/;

/**
 * Every `.md` file named by a shipped doc or dist file that the package does not ship, as `file: name`.
 * A name counts as shipped if it resolves, relative to the naming file or to the package root (or to
 * docs/, as CLI messages write `cuda.md`), to a path in `files`; a full install path
 * (`.../node_modules/onnx-diffusion/docs/cuda.md`) is read from `onnx-diffusion/` on.
 */
export function unshippedMdRefs(root: string, files: string[]): string[] {
  const shipped = new Set(files);
  const missing: string[] = [];
  for (const f of files.filter((f) => READ.test(f))) {
    for (const [name] of fs.readFileSync(path.join(root, f), 'utf8').matchAll(/[\w./-]*\.md\b/g)) {
      if (/(^|\/)\.md$/.test(name)) continue; // the extension itself (".md files")
      const rel = name.replace(/^.*onnx-diffusion\//, '');
      const candidates = [path.posix.join(path.posix.dirname(f), rel), path.posix.normalize(rel), path.posix.join('docs', rel)];
      if (!candidates.some((c) => shipped.has(c))) missing.push(`${f}: ${name}`);
    }
  }
  return [...new Set(missing)];
}
