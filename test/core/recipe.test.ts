import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigError, FileFormatError } from '../../src/core/errors';
import { validateRecipe } from '../../src/core/recipe';
import { loadRecipe } from '../../src/nn/recipe-file';

const base = () => ({
  image: { channels: 1, size: 32 },
  unet: { base: 32, mults: [1, 2, 2], resBlocks: 1, attention: [8], heads: 4, groups: 8, dropout: 0.1 },
  diffusion: { timesteps: 1000, schedule: 'linear', betaStart: 0.0001, betaEnd: 0.02, prediction: 'eps' },
  seed: 0,
});

function rejects(mutate: (r: ReturnType<typeof base> & Record<string, any>) => void, message: RegExp): void {
  const r = base() as ReturnType<typeof base> & Record<string, any>;
  mutate(r);
  assert.throws(() => validateRecipe(r, 'graphs/x.json'), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match((e as Error).message, message);
    return true;
  });
}

describe('validateRecipe', () => {
  it('fills defaults', () => {
    const r = validateRecipe({ image: { channels: 3, size: 16 }, unet: { base: 16, mults: [1], resBlocks: 1 } });
    assert.equal(r.kind, 'gaussian');
    assert.deepEqual(r.unet.attention, []);
    assert.equal(r.unet.heads, 1);
    assert.equal(r.unet.groups, 8);
    assert.equal(r.unet.context, 'none');
    assert.equal(r.diffusion.prediction, 'eps');
    assert.equal(r.seed, 0);
  });

  it('names the file and key path of a bad value', () => {
    rejects((r) => { r.unet.mults[2] = 0; }, /^graphs\/x\.json: unet\.mults\[2\]: expected a positive integer, got 0$/);
    rejects((r) => { r.image.size = 'big'; }, /^graphs\/x\.json: image\.size: expected a positive integer/);
    rejects((r) => { r.unet.dropout = 1.5; }, /unet\.dropout: expected a number in \[0, 1\)/);
    rejects((r) => { r.diffusion.schedule = 'quadratic'; }, /^graphs\/x\.json: diffusion\.schedule: expected one of linear\|cosine\|sigmoid\|scaled-linear/);
    rejects((r) => { r.kind = 'flow'; }, /^graphs\/x\.json: kind: expected one of gaussian\|toy\|cold-blur/);
    rejects((r) => { r.unet.context = 'cross'; }, /unet\.context: expected one of none\|modulate/);
  });

  it('rejects unknown keys at every level', () => {
    rejects((r) => { r.learningRate = 1; }, /^graphs\/x\.json: learningRate: unknown key/);
    rejects((r) => { r.unet.channels = 3; }, /^graphs\/x\.json: unet\.channels: unknown key/);
    rejects((r) => { r.conditioning = { clases: 10 }; }, /conditioning\.clases: unknown key/);
    rejects((r) => { r.diffusion.steps = 10; }, /diffusion\.steps: unknown key/);
  });

  it('checks that the pieces fit', () => {
    rejects((r) => { r.image.size = 28; r.unet.mults = [1, 2, 2, 2]; }, /unet\.mults: 4 levels halve the image 3 times, so image\.size must be divisible by 8, got 28/);
    rejects((r) => { r.unet.groups = 6; }, /unet\.groups: level 0 has 32 channels/);
    rejects((r) => { r.unet.attention = [12]; }, /unet\.attention\[0\]: 12 is not a level resolution \(levels: 32, 16, 8\)/);
    rejects((r) => { r.unet.heads = 5; }, /unet\.heads: 64 channels at resolution 8 are not divisible by 5 heads/);
    rejects((r) => { r.unet.context = 'modulate'; }, /unet\.context: 'modulate' needs conditioning\.classes or conditioning\.labels/);
    rejects((r) => { r.conditioning = { lowResSize: 16 }; }, /conditioning\.lowResSize: needs conditioning\.condChannels/);
    rejects((r) => { r.conditioning = { condChannels: 1, lowResSize: 32 }; }, /conditioning\.lowResSize: expected less than image\.size 32/);
    rejects((r) => { r.conditioning = { nullClassDropout: 0.1 }; }, /conditioning\.nullClassDropout: needs conditioning\.classes/);
    rejects((r) => { r.kind = 'toy'; }, /diffusion\.prediction: kind toy needs prediction x0, got eps/);
  });

  it('loadRecipe names the file for bad JSON and missing files', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'recipe-'));
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{ "image": { "channels": 1, }');
    assert.throws(() => loadRecipe(bad), (e: unknown) => e instanceof FileFormatError && e.message.startsWith(`${bad}: invalid JSON: `));
    assert.throws(() => loadRecipe(path.join(dir, 'none.json')), /none\.json: no such file \(cannot read recipe\)/);
    const wrong = path.join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ ...base(), unet: { ...base().unet, mults: [1, 2, -2] } }));
    assert.throws(() => loadRecipe(wrong), new RegExp(`^ConfigError: ${wrong.replace(/[.\\/]/g, '\\$&')}: unet\\.mults\\[2\\]: expected a positive integer, got -2$`));
  });
});
