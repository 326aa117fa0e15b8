/**
 * Reads an ONNX model with its external data (readModelFiles) and writes it again with
 * encodeModelToFiles, timing both: how the writer behaves at SD size (data streamed tensor by
 * tensor, the graph protobuf small). Peak RSS: run it under /usr/bin/time -v.
 *
 *   node --import tsx tools/copy-model.ts IN.onnx OUT_DIR [--external auto|true|false] [--threshold BYTES]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeModelToFiles, readModelFiles } from '../src/runtime/model-files';

const [input, outDir, ...rest] = process.argv.slice(2);
if (!input || !outDir) {
  console.error('usage: copy-model.ts IN.onnx OUT_DIR [--external auto|true|false] [--threshold BYTES]');
  process.exit(2);
}
const flag = (name: string): string | undefined => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : undefined;
};
const ext = flag('external') ?? 'auto';
const threshold = flag('threshold');
let t = performance.now();
const model = readModelFiles(input);
const readS = (performance.now() - t) / 1000;
fs.mkdirSync(outDir, { recursive: true });
t = performance.now();
const written = encodeModelToFiles(model, path.join(outDir, 'model.onnx'), {
  externalData: ext === 'auto' ? 'auto' : ext === 'true',
  threshold: threshold === undefined ? undefined : Number(threshold),
});
const writeS = (performance.now() - t) / 1000;
console.log(`read ${input} in ${readS.toFixed(1)} s; wrote in ${writeS.toFixed(1)} s:`);
for (const f of written.files) console.log(`  ${f.file}: ${f.bytes.toLocaleString('en-US')} bytes`);
