import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { findLoraTargets } from '../../src/nn/lora';
import { decodeModel } from '../../src/onnx/proto';
import { cliInProcess } from '../helpers/cli';
import { fixture } from '../helpers/paths';

const FILE = fixture('torch-textcond-16px.onnx');

describe('inspect --lora-targets', () => {
  it('lists what a pattern picks: key, layout, shape, weight and node, one line each', async () => {
    const r = await cliInProcess(['inspect', FILE, '--lora-targets', 'attn,!x4*']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], "--lora-targets 'attn,!x4*' picks 4 weights (224 adapter values per unit of rank):"); // (32+32) + (16+32) x 2 + (32+32)
    assert.deepEqual(lines.slice(1).map((l) => l.trim().split(/\s+/)[0]), ['x2.q', 'x2.k', 'x2.v', 'x2.o']);
    assert.match(lines[1], /^ {2}x2\.q {2}in-out \[32, 32\] {2}\S+ {2}\(\/x2\/q\/MatMul\)$/);
  });

  it('--json gives the same targets as the library', async () => {
    const r = await cliInProcess(['inspect', FILE, '--lora-targets', 'all-linear', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { targets: { key: string; weight: string }[]; parametersPerRank: number };
    const lib = findLoraTargets(decodeModel(readFileSync(FILE), FILE).graph, 'all-linear');
    assert.deepEqual(j.targets.map((t) => [t.key, t.weight]), lib.map((c) => [c.key, c.weight]));
    assert.equal(j.parametersPerRank, lib.reduce((s, c) => s + c.inF + c.outF, 0));
  });

  it('says when nothing matches and names the presets', async () => {
    const r = await cliInProcess(['inspect', FILE, '--lora-targets', 'nothing*']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /picks 0 weights[^\n]*\n {2}\(none; presets: attn, attn\+ff, all-linear, all-linear\+conv;/);
  });
});
