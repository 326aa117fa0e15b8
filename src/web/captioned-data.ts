/**
 * Captioned pictures in the page, the two ways a page has them:
 * - a folder URL: a static server cannot list a folder, so it must hold a `metadata.jsonl`
 *   (Hugging Face imagefolder: one `{"file_name", "text"}` per line), the pictures beside it;
 * - files the user drops or picks: pictures with same-named `.txt` captions (kohya's and
 *   diffusers' convention), or a `metadata.jsonl` among them naming the others.
 * The rules are Node's `captions:DIR` (data/caption-text.ts holds the shared half): UTF-8
 * captions, the same metadata checks, pictures sorted by name when paired with .txt files. Each
 * picture is read as RGB, flattened onto black, cover-resized and centre-cropped to the model's size.
 */
import { DiffusionError, FileFormatError, OptionError } from '../core/errors';
import {
  captionFileOf, type CaptionedItem, decodeCaption, decodeUtf8, isCaptionImage, METADATA_FILE, noCaptionedImages, parseMetadataJsonl,
} from '../data/caption-text';
import { coverResize } from '../data/fit';
import { fromByte } from '../image/pixels';
import { readPixels, rgbaToChw } from './images';

/** Captioned pictures from a folder URL (with metadata.jsonl), or dropped or picked files (an array or an input's FileList). */
export type CaptionedSource = string | URL | readonly File[] | FileList;

/** A listed set: its items in training order, each picture's bytes on demand, and where each caption came from. */
export interface CaptionedSet {
  /** Names the set in messages and data-set names. */
  name: string;
  items: CaptionedItem[];
  picture(item: CaptionedItem): Promise<Blob>;
  /** The file a caption came from (metadata.jsonl or the .txt), for errors. */
  captionSource(item: CaptionedItem): string;
}

async function fetchOk(url: string, what: string): Promise<Response | undefined> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new DiffusionError(`${url}: could not fetch ${what}: ${(e as Error).message}`);
  }
  if (res.status === 404) return undefined;
  if (!res.ok) throw new DiffusionError(`${url}: could not fetch ${what}: HTTP ${res.status}`);
  return res;
}

async function fromFolderUrl(url: string | URL): Promise<CaptionedSet> {
  const here = typeof location !== 'undefined' ? location.href : undefined;
  const base = new URL(String(url).endsWith('/') ? String(url) : `${String(url)}/`, here).href;
  const meta = new URL(METADATA_FILE, base).href;
  const res = await fetchOk(meta, METADATA_FILE);
  if (!res) {
    throw new FileFormatError(meta, `not found (a data folder URL needs a ${METADATA_FILE} naming its pictures: a static server cannot list a folder; or drop the files)`);
  }
  const entries = parseMetadataJsonl(decodeUtf8(new Uint8Array(await res.arrayBuffer()), meta, METADATA_FILE), meta);
  const urls = new Map<CaptionedItem, string>();
  // Fetched once: the pictures are decoded to check them, then again to encode them.
  const fetched = new Map<CaptionedItem, Promise<File>>();
  const items = entries.map((e) => {
    const u = new URL(e.file, base).href;
    if (!u.startsWith(base)) throw new FileFormatError(e.where, `names '${e.file}', which is outside ${base}`);
    const item = { file: e.file, caption: e.caption };
    urls.set(item, u);
    return item;
  });
  if (items.length === 0) throw new DiffusionError(noCaptionedImages(base));
  return {
    name: base, items, captionSource: () => meta,
    picture(item) {
      const u = urls.get(item)!;
      let f = fetched.get(item);
      if (!f) {
        f = fetchOk(u, 'the picture').then(async (r) => {
          if (!r) throw new FileFormatError(meta, `names '${item.file}', which is not found (HTTP 404 at ${u})`);
          const blob = await r.blob();
          // Named by its URL, so a picture that does not decode is named in full.
          return new File([blob], u, { type: blob.type });
        });
        fetched.set(item, f);
      }
      return f;
    },
  };
}

/** A dropped file's path within what was dropped: its relative path when a folder was picked, else its name. */
const pathOf = (f: File): string => (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;

async function fromFiles(files: readonly File[]): Promise<CaptionedSet> {
  const name = 'dropped files';
  const byPath = new Map(files.map((f) => [pathOf(f), f]));
  const byName = new Map(files.map((f) => [f.name, f]));
  const find = (rel: string): File | undefined => byPath.get(rel) ?? byName.get(rel.slice(rel.lastIndexOf('/') + 1));
  const blobs = new Map<CaptionedItem, File>();
  const metaFile = files.find((f) => f.name === METADATA_FILE);
  const items: CaptionedItem[] = [];
  if (metaFile) {
    const text = decodeUtf8(new Uint8Array(await metaFile.arrayBuffer()), METADATA_FILE, METADATA_FILE);
    for (const e of parseMetadataJsonl(text, METADATA_FILE)) {
      const f = find(e.file);
      if (!f) throw new FileFormatError(e.where, `names '${e.file}', which is not among the dropped files`);
      const item = { file: e.file, caption: e.caption };
      blobs.set(item, f);
      items.push(item);
    }
  } else {
    for (const f of files.filter((x) => isCaptionImage(pathOf(x))).sort((a, b) => (pathOf(a) < pathOf(b) ? -1 : pathOf(a) > pathOf(b) ? 1 : 0))) {
      const txt = find(captionFileOf(pathOf(f)));
      if (!txt) throw new FileFormatError(pathOf(f), `has no caption (expected ${captionFileOf(f.name)} beside it, or a ${METADATA_FILE})`);
      const item = { file: pathOf(f), caption: decodeCaption(new Uint8Array(await txt.arrayBuffer()), pathOf(txt)) };
      blobs.set(item, f);
      items.push(item);
    }
  }
  if (items.length === 0) throw new DiffusionError(noCaptionedImages(name));
  return {
    name, items,
    captionSource: (it) => (metaFile ? METADATA_FILE : captionFileOf(it.file)),
    picture: async (it) => blobs.get(it)!,
  };
}

/** Lists a set of captioned pictures (nothing decoded yet). */
export async function listCaptionedData(data: CaptionedSource): Promise<CaptionedSet> {
  if (typeof data === 'string' || data instanceof URL) return fromFolderUrl(data);
  const files = typeof FileList !== 'undefined' && data instanceof FileList ? Array.from(data) : data;
  if (Array.isArray(files) && files.every((f) => typeof File !== 'undefined' && f instanceof File)) return fromFiles(files);
  throw new OptionError('data', 'expected the URL of a folder with a metadata.jsonl, or File objects (an array or a FileList: pictures and their captions)');
}

/** A picture as RGB CHW float32 in [-1, 1], cover-resized and centre-cropped to size x size. */
export async function captionedPixels(set: CaptionedSet, item: CaptionedItem, size: number): Promise<Float32Array> {
  const { rgba, width, height } = await readPixels(await set.picture(item));
  let chw = rgbaToChw(rgba, width, height);
  if (width !== size || height !== size) chw = coverResize({ data: chw, n: 1, c: 3, h: height, w: width }, size);
  return Float32Array.from(chw, fromByte);
}
