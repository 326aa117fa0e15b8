// The repository builds dist/ on `npm ci` (its `prepare` script); the published package must run
// nothing on install. `npm pack`/`npm publish` run `prepack`, which calls this with `disable`: the
// `prepare` key is renamed `_prepare` in place (npm runs no script of that name), so the tarball's
// package.json has none; `postpack` calls it with `enable` to rename it back. (The idea of pinst,
// which does the same for postinstall.) Idempotent: `node tools/pack-scripts.mjs enable` repairs a
// package.json that a failed pack left disabled.
import * as fs from 'node:fs';

const [from, to] = process.argv[2] === 'disable' ? ['prepare', '_prepare'] : process.argv[2] === 'enable' ? ['_prepare', 'prepare'] : [];
if (!from) throw new Error('usage: node tools/pack-scripts.mjs disable|enable');
const file = new URL('../package.json', import.meta.url);
const text = fs.readFileSync(file, 'utf8');
const pkg = JSON.parse(text);
if (pkg.scripts && from in pkg.scripts) {
  pkg.scripts = Object.fromEntries(Object.entries(pkg.scripts).map(([k, v]) => [k === from ? to : k, v]));
  fs.writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
}
