import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy } from '../../src/data/npy';
import { openDataset } from '../../src/data/open';
import { writeSolid } from './helpers';

/** Manifest paths stay inside the manifest's folder (issue 26): `..`, absolute paths and links out are refused naming the line. */
describe('manifest paths stay inside the manifest folder', function () {
  this.timeout(60_000);
  let tmp: string;
  let dir: string;
  const want = { channels: 3, size: 16 };
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'od-mpath-'));
    dir = join(tmp, 'data', 'set');
    mkdirSync(dir, { recursive: true });
    await writeSolid(join(dir, 'a.png'), 16, 16, [10, 20, 30]);
    await writeSolid(join(tmp, 'outside.png'), 16, 16, [10, 20, 30]);
    mkdirSync(join(tmp, 'tokens'));
    writeFileSync(join(tmp, 'tokens', 'tokens.npy'), encodeNpy({ dtype: 'float32', shape: [2, 3], data: new Float32Array(6) }));
    writeFileSync(join(dir, 'inside.npy'), encodeNpy({ dtype: 'float32', shape: [2, 3], data: new Float32Array(6) }));
    symlinkSync(join(tmp, 'tokens', 'tokens.npy'), join(dir, 'link.npy'));
    symlinkSync(join(tmp, 'outside.png'), join(dir, 'link.png'));
    symlinkSync(join(dir, 'inside.npy'), join(dir, 'ok-link.npy'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const open = (lines: object[]) => {
    writeFileSync(join(dir, 'manifest.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    return openDataset(`manifest:${dir}`, want);
  };
  const at = (line: number, key: string) => `${join(dir, 'manifest.jsonl')}:${line}: ${key}`;

  it('refuses .., absolute and symlinked paths for images and tensors, naming the line', async () => {
    const cases: [object[], string, RegExp][] = [
      [[{ image: '../../../../../../etc/passwd' }], at(1, 'image'), /leads out of the folder/],
      [[{ image: 'a.png', c: '../../tokens/tokens.npy#1' }], at(1, 'c'), /leads out of the folder/],
      [[{ image: 'a.png', c: 'inside.npy#0' }, { image: '/etc/passwd', c: 'inside.npy#1' }], at(2, 'image'), /is an absolute path/],
      [[{ image: 'a.png', c: join(tmp, 'tokens', 'tokens.npy') }], at(1, 'c'), /is an absolute path/],
      [[{ image: 'a.png', c: 'link.npy#0' }], at(1, 'c'), /is a link to .*tokens\.npy, outside the folder/],
      [[{ image: 'link.png' }], at(1, 'image'), /is a link to .*outside\.png, outside the folder/],
    ];
    for (const [lines, where, why] of cases) {
      await assert.rejects(open(lines), (e: Error) => e.name === 'FileFormatError' && e.message.startsWith(`${where}: `) && why.test(e.message)
        && /manifest paths must stay inside the manifest's folder/.test(e.message), JSON.stringify(lines));
    }
  });

  it('accepts paths inside, including a link that stays inside', async () => {
    const ds = await open([{ image: 'a.png', c: 'inside.npy#0' }, { image: './a.png', c: 'ok-link.npy#1' }]);
    assert.equal(ds.length, 2);
  });

  it('a 50 MB value is not echoed whole into the error line', async () => {
    const long = 'x'.repeat(1_000_000);
    await assert.rejects(open([{ image: 'a.png', c: long }]), (e: Error) => e.message.length < 600 && /no such file/.test(e.message));
  });
});
