import assert from 'node:assert/strict';
import { Rng } from '../../src/diffusion/rng';
import { buildClassifier, classifierNet, ClassifierOptions } from '../../src/nn/classifier';
import { Builder } from '../../src/onnx/builder';
import { Tensor } from '../../src/onnx/tensor';
import { NodeSession } from '../../src/runtime/node';
import { GraphTrainer } from '../../src/train/graph-trainer';
import { buildTrainGraph, crossEntropyLoss } from '../../src/train/train-graph';
import { checkBuilt } from '../autodiff/fd';

/** A classifier small enough for finite differences: 8x8 grey images, 3 classes. */
const TINY: ClassifierOptions = { image: { channels: 1, size: 8 }, classes: 3, blocks: [[4, 1], [4, 2]], flatten: 2, features: 6, groups: 2, seed: 1 };
const N = 4;

function data(seed: number) {
  const rng = new Rng(seed);
  return {
    x: Tensor.float32([N, 1, 8, 8], Array.from({ length: N * 64 }, () => rng.uniform() * 2 - 1)),
    labels: Tensor.int64([N], [0, 2, 1, 2]),
  };
}

describe('training graph for any model and loss', () => {
  it('the cross-entropy loss equals -mean log softmax(logits)[label] computed in JavaScript from the model\'s logits', async () => {
    const model = buildClassifier(TINY);
    const g = buildTrainGraph(model, { kind: 'cross-entropy', logits: 'logits' }, { optimizer: 'none' });
    assert.deepEqual(g.dataInputs, ['x', 'labels']);
    const d = data(2);
    const fwd = await NodeSession.create(model);
    const logits = (await fwd.run({ x: d.x })).logits.toNumbers();
    await fwd.release();
    let want = 0;
    d.labels.toNumbers().forEach((y, i) => {
      const z = logits.slice(i * 3, i * 3 + 3);
      const lse = Math.log(z.reduce((s, v) => s + Math.exp(v), 0));
      want += (lse - z[y]) / N;
    });
    const s = await NodeSession.create(g.model);
    const got = (await s.run(d)).loss.toNumbers()[0];
    await s.release();
    assert.ok(Math.abs(got - want) < 1e-5, `loss ${got} vs ${want}`);
  });

  it('the classifier\'s cross-entropy gradient passes the directional finite-difference check (without GroupNorm)', async () => {
    const b = new Builder(undefined, { seed: 4 });
    const x = b.input('x', 'float32', [N, 1, 8, 8]);
    // Open: with GroupNorm in both blocks the check is off by 3-20 % (one GroupNorm block, and
    // GroupNorm alone or after one conv, agree to 1e-3); see the branch note.
    const { logits, features } = classifierNet(b, x, { ...TINY, groups: 0 });
    const loss = crossEntropyLoss({ labelSmoothing: 0.1 })(b, { logits, features });
    const d = data(3);
    const wrt = [...b.graph.initializers.keys()];
    // h = 1e-3, not fd.ts's 1e-2: a step of 1e-2 along a unit-variance direction moves ReLU inputs
    // by ~0.1 and crosses kinks; at 1e-3 float32 rounding (eps |f| / h ~ 1e-4) is still far below tol.
    await checkBuilt(b, loss, { x: d.x, labels: d.labels }, wrt, new Rng(5), { h: 1e-3, tol: 1e-2, alongGradient: true });
  });

  it('AdamW steps of the training graph lower the cross-entropy of a small batch', async () => {
    const model = buildClassifier(TINY);
    const g = buildTrainGraph(model, { kind: 'cross-entropy' }, { batch: N });
    const trainer = await GraphTrainer.create(g, model);
    const d = data(6);
    const losses: number[] = [];
    for (let k = 0; k < 40; k++) losses.push((await trainer.run(d, { lr: 1e-2 })).loss);
    await trainer.release();
    assert.ok(losses[39] < 0.3 * losses[0], `loss ${losses[0]} -> ${losses[39]}`);
    // The trained weights classify the batch they were fitted to.
    const s = await NodeSession.create(trainer.modelWith(model, 'params'));
    const z = (await s.run({ x: d.x })).logits.toNumbers();
    await s.release();
    d.labels.toNumbers().forEach((y, i) => assert.equal(z.slice(i * 3, i * 3 + 3).indexOf(Math.max(...z.slice(i * 3, i * 3 + 3))), y));
  });

  it('names the problem when the loss is not a scalar or the logits are missing', () => {
    const model = buildClassifier(TINY);
    assert.throws(() => buildTrainGraph(model, { kind: 'custom', build: (_b, o) => o.logits }), /loss must be a scalar/);
    assert.throws(() => buildTrainGraph(model, { kind: 'cross-entropy', logits: 'nope' }), /no output 'nope'/);
  });
});
