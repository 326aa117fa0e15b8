// How long `require('onnx-diffusion')` and `await import('onnx-diffusion')` take in an app, one
// fresh Node process per sample, apps alternated so machine load hits every row alike.
//
//   node tools/bench-load.mjs APP_DIR [APP_DIR ...] [--n 25]
//
// Each APP_DIR has onnx-diffusion in its node_modules (an installed tarball, or a link to a built
// checkout). Prints the median and interquartile range per app and loader, in ms.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const at = args.indexOf('--n');
const n = at >= 0 ? Number(args.splice(at, 2)[1]) : 25;
if (args.length === 0) throw new Error('usage: node tools/bench-load.mjs APP_DIR [APP_DIR ...] [--n 25]');
const loaders = {
  require: ['commonjs', "const t = process.hrtime.bigint(); require('onnx-diffusion'); console.log(Number(process.hrtime.bigint() - t) / 1e6)"],
  import: ['module', "const t = process.hrtime.bigint(); await import('onnx-diffusion'); console.log(Number(process.hrtime.bigint() - t) / 1e6)"],
};
const ms = {};
for (let i = 0; i < n; i++) {
  for (const [loader, [type, code]] of Object.entries(loaders)) {
    for (const app of args) {
      const r = spawnSync(process.execPath, [`--input-type=${type}`, '-e', code], { cwd: app, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${loader} in ${app} failed:\n${r.stderr}`);
      (ms[`${loader}\t${app}`] ??= []).push(Number(r.stdout.trim()));
    }
  }
}
console.log('loader\tapp\tmedian ms\tp25-p75');
for (const [key, v] of Object.entries(ms)) {
  v.sort((a, b) => a - b);
  const q = (f) => v[Math.floor(f * (v.length - 1))].toFixed(0);
  console.log(`${key}\t${v[v.length >> 1].toFixed(1)}\t${q(0.25)}-${q(0.75)}`);
}
