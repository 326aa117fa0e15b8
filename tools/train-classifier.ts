/**
 * Retrains the evaluator's feature network (models/fashion-mnist-classifier/) reproducibly: the
 * classifier of src/nn/classifier.ts, trained with the project's own training graph
 * (src/train/train-graph.ts: cross-entropy, autodiff, AdamW, EMA) on the Fashion-MNIST training
 * split, then scored on the test split.
 *   node --import tsx tools/train-classifier.ts [--epochs 3] [--batch 128] [--lr 3e-3] [--seed 0]
 *     [--threads N] [--data fashion-mnist:full] [--out models/fashion-mnist-classifier/model.onnx]
 * Initialisation, data order and flips are seeded (--seed); the defaults below made the shipped
 * file. Other flags for experiments: --blocks 16:1,32:2,... --groups G --flatten C --steps N.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { BatchLoader } from '../src/data/loader';
import { openDataset } from '../src/data/open';
import { FeatureNet } from '../src/eval/feature-net';
import { buildClassifier, CLASSIFIER_KEY, ClassifierConfig, FASHION_MNIST_CLASSIFIER } from '../src/nn/classifier';
import { countParams } from '../src/nn/model';
import { encodeModel } from '../src/onnx/proto';
import { Tensor } from '../src/onnx/tensor';
import { GraphTrainer } from '../src/train/graph-trainer';
import { emaDecayAt, learningRate } from '../src/train/lr';
import { buildTrainGraph } from '../src/train/train-graph';

const arg = (name: string, d: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : d;
};

(async () => {
  const epochs = Number(arg('epochs', '3'));
  const batch = Number(arg('batch', '128'));
  const lrBase = Number(arg('lr', '3e-3'));
  const seed = Number(arg('seed', '0'));
  const threads = Number(arg('threads', String(availableParallelism())));
  const dataSpec = arg('data', 'fashion-mnist:full');
  const maxSteps = Number(arg('steps', '0'));
  const out = resolve(arg('out', resolve(__dirname, '../models/fashion-mnist-classifier/model.onnx')));

  const blocks = arg('blocks', '');
  const o = {
    ...FASHION_MNIST_CLASSIFIER, seed, groups: Number(arg('groups', String(FASHION_MNIST_CLASSIFIER.groups))), flatten: Number(arg('flatten', String(FASHION_MNIST_CLASSIFIER.flatten))),
    blocks: blocks ? blocks.split(',').map((p) => p.split(':').map(Number) as [number, 1 | 2]) : FASHION_MNIST_CLASSIFIER.blocks,
  };
  const train = await openDataset(dataSpec, o.image);
  const test = await openDataset('fashion-mnist', o.image);
  const model = buildClassifier(o, train.classNames);
  const graph = buildTrainGraph(model, { kind: 'cross-entropy', logits: 'logits' }, { batch, adamw: { weightDecay: 1e-4 } });
  const trainer = await GraphTrainer.create(graph, model, { threads });
  const loader = new BatchLoader(train, { batchSize: batch, seed, flip: true });
  const steps = maxSteps > 0 ? maxSteps : Math.ceil((epochs * train.length) / batch);
  const warmup = Math.min(200, Math.floor(steps / 10));
  console.error(`classifier: ${countParams(model)} parameters; ${steps} steps of ${batch} on ${train.name} (${train.length} images), ${threads} threads`);

  const started = performance.now();
  let smooth = 0;
  for (let k = 0; k < steps; k++) {
    const b = await loader.next();
    const labels = new Tensor('int64', [batch], BigInt64Array.from(b.labels!, (v) => BigInt(v)));
    const r = await trainer.run(
      { x: new Tensor('float32', [batch, 1, 28, 28], b.x), labels },
      { lr: learningRate(k, lrBase, warmup, steps, 'cosine'), emaDecay: emaDecayAt(k, 0.999), maxNorm: 1 },
    );
    smooth = k === 0 ? r.loss : 0.98 * smooth + 0.02 * r.loss;
    if ((k + 1) % 50 === 0 || k + 1 === steps) {
      const s = (performance.now() - started) / 1000;
      console.error(`step ${k + 1}/${steps}  loss ${smooth.toFixed(4)}  ${((batch * (k + 1)) / s).toFixed(0)} img/s  ${s.toFixed(0)} s`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  await trainer.release();

  const trained = trainer.modelWith(model, 'ema');
  const net = await FeatureNet.load(trained, { threads });
  const all = Int32Array.from({ length: test.length }, (_, i) => i);
  const e = await net.embedDataset(test, all);
  let correct = 0;
  for (let i = 0; i < e.n; i++) {
    const p = e.probs.subarray(i * e.k, (i + 1) * e.k);
    if (p.indexOf(Math.max(...p)) === test.label!(i)) correct++;
  }
  await net.release();
  const accuracy = correct / e.n;
  const config = JSON.parse(trained.metadata[CLASSIFIER_KEY]) as ClassifierConfig;
  config.training = { data: train.name, steps, batch, testAccuracy: Number(accuracy.toFixed(4)), seconds: Math.round(seconds) };
  trained.metadata[CLASSIFIER_KEY] = JSON.stringify(config);
  mkdirSync(dirname(out), { recursive: true });
  const bytes = encodeModel(trained);
  writeFileSync(out, bytes);
  console.log(`test accuracy ${(100 * accuracy).toFixed(2)} % (${correct}/${e.n}); trained in ${seconds.toFixed(0)} s; wrote ${out} (${(bytes.length / 1024).toFixed(0)} KiB)`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
