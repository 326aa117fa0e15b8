/**
 * `captions:DIR`: captioned pictures for text-to-image fine-tuning, in the two conventions users
 * bring:
 * - kohya's and diffusers' training scripts: each image beside a same-named `.txt` caption
 *   (`shoe1.png` + `shoe1.txt`);
 * - a Hugging Face image folder: `metadata.jsonl` with one `{"file_name": ..., "text": ...}` per line
 *   (it wins when present; then every line must name an image in DIR).
 *
 * Images are read as RGB, resized to cover `size` x `size` and centre-cropped (the rule of
 * diffusers' train_text_to_image.py with `--center_crop`, and of this project's `folder:` data),
 * then scaled to [-1, 1] as the VAE encoder expects. Captions are UTF-8; a caption that is not
 * valid UTF-8, an image that does not decode, a line of metadata.jsonl that is not an object with
 * both keys, or a path that leaves DIR is refused with one line naming the file (and line).
 */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { DiffusionError, FileFormatError } from '../core/errors';
import { readFileLimited, readTextLimited } from '../core/node/read-limits';
import { readImageBytes } from '../image/read';
import { fromByte } from '../image/pixels';
import { captionFileOf, type CaptionedItem, decodeCaption, isCaptionImage, METADATA_FILE, noCaptionedImages, parseMetadataJsonl } from './caption-text';

export type { CaptionedItem } from './caption-text';

/** A caption file's text: valid UTF-8 (a BOM dropped), whitespace runs collapsed, trimmed. */
export function readCaption(file: string): string {
  return decodeCaption(readFileLimited(file, 'text', 'caption file'), file);
}

function insideDir(dir: string, file: string, where: string): string {
  const full = join(dir, file);
  let real: string;
  try {
    real = realpathSync(full);
  } catch {
    throw new FileFormatError(where, `names '${file}', which does not exist in ${dir}`);
  }
  const root = realpathSync(dir);
  if (real !== root && !real.startsWith(root + sep)) throw new FileFormatError(where, `names '${file}', which is outside ${dir}`);
  if (!statSync(real).isFile()) throw new FileFormatError(where, `names '${file}', which is not a regular file`);
  return relative(root, real).split(sep).join('/');
}

function fromMetadata(dir: string, file: string): CaptionedItem[] {
  const seen = new Set<string>();
  return parseMetadataJsonl(readTextLimited(file, 'json', METADATA_FILE), file).map((e) => {
    const rel = insideDir(dir, e.file, e.where);
    if (seen.has(rel)) throw new FileFormatError(e.where, `'${e.file}' is listed twice`);
    seen.add(rel);
    return { file: rel, caption: e.caption };
  });
}

/** The images of DIR with their captions, sorted by file name (metadata.jsonl order when it exists). */
export function listCaptioned(dir: string): CaptionedItem[] {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new DiffusionError(`${dir}: not a folder`);
  const meta = join(dir, METADATA_FILE);
  const items = statSync(meta, { throwIfNoEntry: false }) ? fromMetadata(dir, meta) : [];
  if (items.length === 0) {
    const names = readdirSync(dir).filter(isCaptionImage).sort();
    for (const f of names) {
      const txt = join(dir, captionFileOf(f));
      if (!statSync(txt, { throwIfNoEntry: false })) throw new FileFormatError(join(dir, f), `has no caption (expected ${captionFileOf(f)} beside it, or a ${METADATA_FILE})`);
      items.push({ file: insideDir(dir, f, join(dir, f)), caption: readCaption(txt) });
    }
  }
  if (items.length === 0) {
    throw new DiffusionError(noCaptionedImages(dir));
  }
  return items;
}

/** Reads one image of the set as RGB CHW float32 in [-1, 1], covering size x size, centre-cropped. */
export async function readCaptionedImage(dir: string, item: CaptionedItem, size: number): Promise<Float32Array> {
  const bytes = await readImageBytes(join(dir, item.file), { channels: 3, size });
  return Float32Array.from(bytes, fromByte);
}
