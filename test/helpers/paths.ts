import * as fs from 'fs';
import * as path from 'path';

/** The repository root: the nearest folder above this file whose package.json names onnx-diffusion. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'onnx-diffusion') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no onnx-diffusion package.json above ${__dirname}`);
    dir = up;
  }
}

/** A file of test/fixtures (foreign ONNX exports and their configs; see test/fixtures/README.md). */
export function fixture(name: string): string {
  return path.join(repoRoot(), 'test', 'fixtures', name);
}
