import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkBrowserClosure, checkFiles, checkLayers, importsOf, ORDER } from './helpers/layers';
import { repoRoot } from './helpers/paths';

describe('architecture: the layering of src/ (docs/architecture.md)', () => {
  it('no import in src/ points up the layer order, across one level, or from browser code to Node', () => {
    const violations = checkLayers(path.join(repoRoot(), 'src'));
    assert.deepEqual(violations, [], `layer order ${ORDER}; violations:\n${violations.join('\n')}`);
  });

  it('catches an upward import planted in a copy of src/', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'od-layers-'));
    try {
      fs.mkdirSync(path.join(dir, 'onnx'));
      fs.mkdirSync(path.join(dir, 'diffusion'));
      fs.writeFileSync(path.join(dir, 'diffusion', 'rng.ts'), 'export class Rng {}\n');
      fs.writeFileSync(path.join(dir, 'onnx', 'builder.ts'), "import { Rng } from '../diffusion/rng';\nexport const r = new Rng();\n");
      assert.deepEqual(checkLayers(dir), ["src/onnx/builder.ts: imports '../diffusion/rng', but diffusion/ is above onnx/"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('catches same-level imports, imports of the package entry, and Node modules in browser code', () => {
    assert.deepEqual(checkFiles({ 'nn/unet.ts': "import type { Batch } from '../data/loader';" }),
      ["src/nn/unet.ts: imports '../data/loader', but data/ and nn/ are on the same level"]);
    assert.deepEqual(checkFiles({ 'index.ts': '', 'train/x.ts': "export * from '../index';" }),
      ["src/train/x.ts: imports '../index', but the package entries (src/*.ts, src/entries/) are above train/"]);
    // The subpath entries (src/entries/*.ts: onnx-diffusion/graph, ...) sit at the package entry's level: they may import
    // every folder, and no folder may import them.
    assert.deepEqual(checkFiles({ 'entries/graph.ts': "export * from '../onnx/ir';\nexport { train } from '../train/trainer';", 'onnx/ir.ts': '' }), []);
    assert.deepEqual(checkFiles({ 'entries/graph.ts': '', 'cli/x.ts': "import { Graph } from '../entries/graph';" }),
      ["src/cli/x.ts: imports '../entries/graph', but the package entries (src/*.ts, src/entries/) are above cli/"]);
    assert.deepEqual(checkFiles({ 'diffusion/x.ts': "import * as fs from 'node:fs';\nimport sharp from 'sharp';" }), [
      "src/diffusion/x.ts: imports 'node:fs', but src/diffusion/ runs in the browser and may import no Node module",
      "src/diffusion/x.ts: imports 'sharp', but src/diffusion/ runs in the browser and may import no Node module",
    ]);
    assert.deepEqual(checkFiles({ 'core/node/r.ts': "import * as fs from 'node:fs';", 'onnx/x.ts': "import { r } from '../core/node/r';" }),
      ["src/onnx/x.ts: imports '../core/node/r', but src/core/node/ uses Node APIs and src/onnx/ runs in the browser"]);
    assert.deepEqual(checkFiles({ 'core/node/r.ts': "import * as fs from 'node:fs';", 'data/x.ts': "import { r } from '../core/node/r';" }), []);
    assert.deepEqual(checkFiles({ 'cli/x.ts': "import { train } from '../train/trainer';", 'data/y.ts': "import '../core/errors';" }), []);
  });

  it('holds the browser-shared files of train/ to the browser rule, and follows the browser entry through every import', () => {
    assert.deepEqual(checkFiles({ 'train/feeds.ts': "import { join } from 'node:path';", 'train/trainer.ts': "import { join } from 'node:path';" }),
      ["src/train/feeds.ts: imports 'node:path', but it runs in the browser and may import no Node module"]);
    assert.deepEqual(checkFiles({ 'train/optimize/cse.ts': "import '../../core/node/memory';", 'core/node/memory.ts': '' }),
      ["src/train/optimize/cse.ts: imports '../../core/node/memory', but src/core/node/ uses Node APIs and it runs in the browser"]);
    const files = {
      'web/index.ts': "export { createTrainer } from './trainer';",
      'web/trainer.ts': "import { Loader } from '../data';",
      'data/index.ts': "export * from './folder';",
      'data/folder.ts': "import { readdirSync } from 'node:fs';",
      'data/unreached.ts': "import sharp from 'sharp';",
    };
    assert.deepEqual(checkBrowserClosure(files),
      ["src/data/folder.ts: imports 'node:fs', but the browser entry reaches it (src/web/index.ts -> src/web/trainer.ts -> src/data/index.ts -> src/data/folder.ts)"]);
  });

  it('reads static, type-only, re-export, side-effect and dynamic imports, and skips comments', () => {
    const src = [
      "import { a } from './a';",
      "import type { B } from '../b';",
      'import {\n  c,\n  d,\n} from "./cd";',
      "export * from './e';",
      "import './f';",
      "const g = await import('./g');",
      "// import { h } from './h';",
      "/* export { i } from './i'; */",
      "const s = 'not an import from ./j';",
    ].join('\n');
    assert.deepEqual(importsOf(src).sort(), ['../b', './a', './cd', './e', './f', './g']);
  });
});
