import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { adapterKeys, parseAdapterKey } from '../../src/nn/lora-keys';
import { fixture } from '../helpers/paths';

/** Written by tools/lora-keys-diffusers.py: diffusers 0.27.2's own conversion of the kohya names we write. */
interface Pair { module: string; kohya: string; diffusers: string[]; peft: string[] }
const { pairs } = JSON.parse(readFileSync(fixture('lora-keys-diffusers.json'), 'utf8')) as { pairs: Pair[] };

describe('LoRA key names against diffusers\' own converters (fixture from diffusers 0.27.2)', () => {
  it('our kohya names are what diffusers turns back into the same module, for 50 UNet modules', () => {
    assert.equal(pairs.length, 50);
    for (const p of pairs) {
      assert.equal(adapterKeys(p.module, 'kohya').a, p.kohya, p.module);
      // diffusers' attention-processor form and its peft form both parse back to the module.
      for (const k of [...p.diffusers, ...p.peft]) {
        const parsed = parseAdapterKey(k);
        assert.ok(parsed && parsed !== 'text-encoder', k);
        assert.equal(parsed.module, p.module, k);
        assert.equal(parsed.part, /lora_A|\.down\./.test(k) ? 'A' : 'B', k);
      }
      assert.deepEqual(p.peft.map((k) => `unet.${k}`).sort(), [adapterKeys(p.module, 'peft').a, adapterKeys(p.module, 'peft').b].sort(), 'the peft names we write');
    }
  });
});
