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
import { basename, extname, join, relative, sep } from 'node:path';
import { DiffusionError, FileFormatError } from '../core/errors';
import { readFileLimited, readTextLimited } from '../core/node/read-limits';
import { readImageBytes } from '../image/read';
import { fromByte } from '../image/pixels';
import { IMAGE_EXTENSIONS } from './folder';

export interface CaptionedItem {
  /** The image's path relative to DIR. */
  file: string;
  caption: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A caption file's text: valid UTF-8 (a BOM dropped), whitespace runs collapsed, trimmed. */
export function readCaption(file: string): string {
  const bytes = readFileLimited(file, 'text', 'caption file');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new FileFormatError(file, 'caption is not valid UTF-8 text (save it as UTF-8)');
  }
  return text.replace(/^\uFEFF/, '').replace(/\s+/g, ' ').trim();
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
  const items: CaptionedItem[] = [];
  const seen = new Set<string>();
  readTextLimited(file, 'json', 'metadata.jsonl').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      throw new FileFormatError(where, 'not a JSON object (expected {"file_name": ..., "text": ...})');
    }
    const rec = o as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof rec.file_name !== 'string' || typeof rec.text !== 'string') {
      throw new FileFormatError(where, 'expected {"file_name": "<image>", "text": "<caption>"}');
    }
    if (!IMAGE_EXTENSIONS.includes(extname(rec.file_name).toLowerCase())) {
      throw new FileFormatError(where, `'${rec.file_name}' is not a ${IMAGE_EXTENSIONS.join('/')} image`);
    }
    const rel = insideDir(dir, rec.file_name, where);
    if (seen.has(rel)) throw new FileFormatError(where, `'${rec.file_name}' is listed twice`);
    seen.add(rel);
    items.push({ file: rel, caption: rec.text.replace(/\s+/g, ' ').trim() });
  });
  return items;
}

/** The images of DIR with their captions, sorted by file name (metadata.jsonl order when it exists). */
export function listCaptioned(dir: string): CaptionedItem[] {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new DiffusionError(`${dir}: not a folder`);
  const meta = join(dir, 'metadata.jsonl');
  const items = statSync(meta, { throwIfNoEntry: false }) ? fromMetadata(dir, meta) : [];
  if (items.length === 0) {
    const names = readdirSync(dir).filter((f) => !f.startsWith('.') && IMAGE_EXTENSIONS.includes(extname(f).toLowerCase())).sort();
    for (const f of names) {
      const txt = join(dir, `${basename(f, extname(f))}.txt`);
      if (!statSync(txt, { throwIfNoEntry: false })) throw new FileFormatError(join(dir, f), `has no caption (expected ${basename(txt)} beside it, or a metadata.jsonl)`);
      items.push({ file: insideDir(dir, f, join(dir, f)), caption: readCaption(txt) });
    }
  }
  if (items.length === 0) {
    throw new DiffusionError(`${dir}: no captioned images (expected images with same-named .txt captions, or a metadata.jsonl)`);
  }
  return items;
}

/** Reads one image of the set as RGB CHW float32 in [-1, 1], covering size x size, centre-cropped. */
export async function readCaptionedImage(dir: string, item: CaptionedItem, size: number): Promise<Float32Array> {
  const bytes = await readImageBytes(join(dir, item.file), { channels: 3, size });
  return Float32Array.from(bytes, fromByte);
}
