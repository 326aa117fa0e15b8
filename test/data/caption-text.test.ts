import * as assert from 'node:assert/strict';
import { captionFileOf, decodeCaption, isCaptionImage, parseMetadataJsonl } from '../../src/data/caption-text';

describe('captioned pictures: the rules Node and the page share (data/caption-text.ts)', () => {
  it('pairs a picture with its same-named .txt and knows pictures by extension, not dot-files', () => {
    assert.equal(captionFileOf('shoe1.png'), 'shoe1.txt');
    assert.equal(captionFileOf('sub/a.b.JPEG'), 'sub/a.b.txt');
    assert.deepEqual(['a.png', 'b.JPG', 'c.webp', 'd.gif', '.e.png', 'f.txt', 'png'].map((n) => isCaptionImage(n)), [true, true, true, false, false, false, false]);
  });

  it('a caption is UTF-8 with its BOM dropped and whitespace collapsed; other bytes are refused naming the file', () => {
    const bytes = new TextEncoder().encode('\uFEFF  a red\n\tshoé  \r\n');
    assert.equal(decodeCaption(bytes, 'x.txt'), 'a red shoé');
    assert.throws(() => decodeCaption(Uint8Array.of(0xff, 0xfe, 0x61, 0x00), 'dir/x.txt'), { message: 'dir/x.txt: caption is not valid UTF-8 text (save it as UTF-8)' });
  });

  it('metadata.jsonl: entries in order, blank lines skipped; a bad line, a non-image and a duplicate named by line', () => {
    const ok = parseMetadataJsonl('{"file_name": "./b.png", "text": " a  cat "}\n\n{"file_name": "a.jpg", "text": "a dog"}\n', 'm.jsonl');
    assert.deepEqual(ok, [{ file: 'b.png', caption: 'a cat', where: 'm.jsonl:1' }, { file: 'a.jpg', caption: 'a dog', where: 'm.jsonl:3' }]);
    const bad: [string, string][] = [
      ['{"file_name": "a.png", "text": "x"}\nnot json', 'm.jsonl:2: not a JSON object (expected {"file_name": ..., "text": ...})'],
      ['{"file_name": "a.png"}', 'm.jsonl:1: expected {"file_name": "<image>", "text": "<caption>"}'],
      ['{"file_name": "a.txt", "text": "x"}', "m.jsonl:1: 'a.txt' is not a .png/.jpg/.jpeg/.webp image"],
      ['{"file_name": "a.png", "text": "x"}\n{"file_name": "./a.png", "text": "y"}', "m.jsonl:2: './a.png' is listed twice"],
    ];
    for (const [text, message] of bad) assert.throws(() => parseMetadataJsonl(text, 'm.jsonl'), { message });
  });
});
