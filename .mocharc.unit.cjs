// The fast tier, `npm run test:unit`: no child processes, no browser, under a minute on the
// 2-core dev machine (docs/architecture.md, "Test tiers"). `npm test` (.mocharc.cjs) runs every
// test file, these included; test/tiers.test.ts checks that this tier spawns nothing.
const base = require('./.mocharc.cjs');

process.env.ONNX_DIFFUSION_TEST_TIER = 'unit';

module.exports = {
  ...base,
  require: ['test/helpers/no-spawn.ts'],
  spec: [
    'test/architecture.test.ts',
    'test/tiers.test.ts',
    'test/{core,onnx,autodiff,data,diffusion,nn,image}/**/*.test.ts',
    'test/train/{step-graph,train-graph,training-run,optim,setup-from-model,apply-lora,step-memory}.test.ts',
  ],
  // Every recipe built and run in ORT (about 25 s, unet-cifar10 alone 9 s): npm test runs it.
  // read-limits makes FIFOs with mkfifo (a child process).
  ignore: ['test/nn/recipes.test.ts', 'test/core/read-limits.test.ts'],
};
