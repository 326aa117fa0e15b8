/**
 * The isomorphic half of captioned pictures (`captions:DIR` in Node, a folder URL or dropped files
 * in the page): which names are pictures, which `.txt` captions one, how a caption's bytes become
 * its text, and how a `metadata.jsonl` line is read. Node's file listing (data/captions.ts) and the
 * page's (web/captioned-data.ts) both call these, so the two accept and refuse the same files.
 */
import { FileFormatError } from '../core/errors';

/** The picture types of an image folder and of a captioned set (data/folder.ts re-exports it). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

/** The file holding Hugging Face imagefolder captions. */
export const METADATA_FILE = 'metadata.jsonl';

export interface CaptionedItem {
  /** The image's path relative to the set's folder ('/'-separated). */
  file: string;
  caption: string;
}

/** One line of metadata.jsonl, checked: its picture and caption, and where it stands (for errors). */
export interface MetadataEntry extends CaptionedItem {
  where: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function extensionOf(name: string): string {
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  return dot > slash + 1 ? name.slice(dot).toLowerCase() : '';
}

/** Whether `name` is a picture of a captioned set (by extension; dot-files are not). */
export function isCaptionImage(name: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1);
  return !base.startsWith('.') && IMAGE_EXTENSIONS.includes(extensionOf(name));
}

/** The caption file kohya's and diffusers' scripts pair with a picture: `shoe1.png` -> `shoe1.txt`. */
export function captionFileOf(image: string): string {
  return `${image.slice(0, image.length - extensionOf(image).length)}.txt`;
}

/** Whitespace runs collapsed and trimmed: the text the text encoder sees. */
export function normalizeCaption(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Bytes as UTF-8 text (a BOM dropped), or one line naming `file` and `what` the bytes hold. */
export function decodeUtf8(bytes: Uint8Array, file: string, what = 'caption'): string {
  try {
    return utf8.decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    throw new FileFormatError(file, `${what} is not valid UTF-8 text (save it as UTF-8)`);
  }
}

/** A caption file's text: valid UTF-8 (a BOM dropped), normalized. `file` names it in the error. */
export function decodeCaption(bytes: Uint8Array, file: string): string {
  return normalizeCaption(decodeUtf8(bytes, file));
}

/**
 * The entries of a metadata.jsonl (`file` names it in errors): one `{"file_name", "text"}` object
 * per non-blank line, each naming a picture, none twice. Where the pictures are is the caller's
 * to check (Node resolves them inside the folder; the page fetches or finds them among the files).
 */
export function parseMetadataJsonl(text: string, file: string): MetadataEntry[] {
  const out: MetadataEntry[] = [];
  const seen = new Set<string>();
  text.replace(/^\uFEFF/, '').split('\n').forEach((line, i) => {
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
    if (!IMAGE_EXTENSIONS.includes(extensionOf(rec.file_name))) {
      throw new FileFormatError(where, `'${rec.file_name}' is not a ${IMAGE_EXTENSIONS.join('/')} image`);
    }
    const name = rec.file_name.replace(/^\.\//, '');
    if (seen.has(name)) throw new FileFormatError(where, `'${rec.file_name}' is listed twice`);
    seen.add(name);
    out.push({ file: name, caption: normalizeCaption(rec.text), where });
  });
  return out;
}

/** The message of a set with no captioned pictures (`where`: the folder, URL or 'dropped files'). */
export function noCaptionedImages(where: string): string {
  return `${where}: no captioned images (expected images with same-named .txt captions, or a ${METADATA_FILE})`;
}
