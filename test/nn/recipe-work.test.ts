import * as assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel, loadRecipe } from '../../src/nn';
import { estimateRecipe, MAX_NODES } from '../../src/nn/recipe-budget';
import { cliInProcess } from '../helpers/cli';

/** Recipes that would take minutes to build are refused before building, naming the key (issue 26 item 10). */
describe('recipe work budget', function () {
  this.timeout(60_000);
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'od-work-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const tiny = JSON.parse(readFileSync('graphs/unet-tiny.json', 'utf8')) as { image: object; unet: object };

  const slow: [string, object, RegExp][] = [
    ['resblocks-1000', { ...tiny, unet: { ...tiny.unet, resBlocks: 1000 } }, /: unet\.resBlocks: 1000 gives a network of about [\d,]+ nodes, over the 10,000/],
    ['resblocks-200 without attention', { ...tiny, unet: { ...tiny.unet, resBlocks: 200, attention: [] } }, /: unet\.resBlocks: 200 gives a network of about [\d,]+ nodes/],
    ['channels-1e6', { ...tiny, image: { ...tiny.image, channels: 1e6 } }, /: image\.channels: 1000000 channels is more than the 64 a recipe may have/],
  ];
  for (const [name, recipe, msg] of slow) {
    it(`${name}: train and build-graph refuse it within seconds (they ran past 60 s)`, async () => {
      const file = join(tmp, `${name}.json`);
      writeFileSync(file, JSON.stringify(recipe));
      for (const args of [['train', '--recipe', file, '--data', 'synthetic:8', '--steps', '1', '--batch', '2', '--sample-every', '0', '--out', join(tmp, 'run')],
        ['build-graph', '--recipe', file, '--out', join(tmp, 'g')]]) {
        const t = Date.now();
        const r = await cliInProcess(args);
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`^error: ${file}${msg.source}`));
        assert.ok(Date.now() - t < 5000, `${args[0]} took ${Date.now() - t} ms`);
      }
    });
  }

  it('the node estimate is within 15% of the built graph, and every shipped recipe is far under the cap', () => {
    for (const f of readdirSync('graphs').filter((n) => n.endsWith('.json'))) {
      const r = loadRecipe(join('graphs', f));
      const est = estimateRecipe(r).nodes;
      assert.ok(est < MAX_NODES / 5, `${f}: ${est}`);
      if (f === 'unet-cifar10.json' || f === 'unet-sr-64-128.json') continue; // large weights: slow to build here
      const built = buildModel(r).graph.nodes.length;
      assert.ok(Math.abs(est - built) / built < 0.15, `${f}: estimated ${est}, built ${built}`);
    }
  });
});
