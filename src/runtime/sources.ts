/**
 * Models from anywhere, in Node, as transformers.js users expect: `pipeline(source, { progress,
 * cache })` takes a shipped model's name, a path (file or folder) or an http(s) URL. A URL is
 * downloaded once into a cache folder (default $XDG_CACHE_HOME/onnx-diffusion, else
 * ~/.cache/onnx-diffusion), with progress per file and integrity checks by size and by hash when
 * the server gives them; a folder URL (a diffusers layout) fetches the files its model_index.json
 * names. What is returned is a local path, read by loadModel like any other.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DiffusionError, FileFormatError, OptionError } from '../core/errors';

/** One file's download: `loaded` of `total` bytes (total unknown without a content-length). */
export interface DownloadProgress {
  /** The file's URL. */
  url: string;
  /** Its path under the model's folder (`unet/model.onnx`). */
  file: string;
  loaded: number;
  total?: number;
  /** 'download' while bytes arrive, 'done' once verified and stored, 'cached' when read from the cache. */
  status: 'download' | 'done' | 'cached';
}

export interface SourceOptions {
  /** Called as each file downloads (and once for each file found in the cache). */
  progress?: (p: DownloadProgress) => void;
  /** The cache folder, or false to download into a fresh temporary folder. Default: cacheDir(). */
  cache?: string | false;
}

/** $ONNX_DIFFUSION_CACHE, else $XDG_CACHE_HOME/onnx-diffusion, else ~/.cache/onnx-diffusion. */
export function cacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.ONNX_DIFFUSION_CACHE) return env.ONNX_DIFFUSION_CACHE;
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'onnx-diffusion');
}

/** Whether `source` is an http(s) URL (a string or a URL object). */
export function isRemote(source: unknown): source is string | URL {
  const s = source instanceof URL ? source.href : source;
  return typeof s === 'string' && /^https?:\/\//i.test(s);
}

/** fetch with errors that name the URL: the network's cause, or the HTTP status. */
export async function fetchOk(url: string, init?: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new FileFormatError(url, `could not fetch (${cause?.code ?? cause?.message ?? (e as Error).message})`);
  }
  if (!res.ok) throw new FileFormatError(url, `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  return res;
}

/** The sha256 the server states for the body: a `#sha256=HEX` fragment, or a 64-hex ETag (as the Hugging Face hub sends for LFS files). */
function statedSha256(url: URL, res: Response): string | undefined {
  const frag = url.hash.match(/^#sha256=([0-9a-f]{64})$/i)?.[1];
  if (frag) return frag.toLowerCase();
  const etag = (res.headers.get('x-linked-etag') ?? res.headers.get('etag'))?.replace(/^W\//, '').replace(/"/g, '');
  return etag && /^[0-9a-f]{64}$/i.test(etag) ? etag.toLowerCase() : undefined;
}

/** Downloads `url` to `dest` (atomically, via a .part file), reporting progress and checking size and hash. */
async function download(url: URL, dest: string, file: string, progress?: SourceOptions['progress']): Promise<void> {
  const href = url.href.replace(/#.*$/, '');
  const res = await fetchOk(href);
  const length = res.headers.get('content-length');
  const total = length !== null && res.headers.get('content-encoding') === null ? Number(length) : undefined;
  const want = statedSha256(url, res);
  const hash = createHash('sha256');
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const part = `${dest}.${process.pid}.part`;
  const fd = fs.openSync(part, 'w');
  let loaded = 0;
  try {
    if (!res.body) throw new DiffusionError(`${href}: the response has no body`);
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      fs.writeSync(fd, value);
      hash.update(value);
      loaded += value.length;
      progress?.({ url: href, file, loaded, total, status: 'download' });
    }
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(part, { force: true });
    if (e instanceof DiffusionError) throw e;
    throw new DiffusionError(`${href}: download failed after ${loaded} bytes (${(e as Error).message})`);
  }
  fs.closeSync(fd);
  const fail = (why: string) => {
    fs.rmSync(part, { force: true });
    return new FileFormatError(href, `${why}; nothing was cached`);
  };
  if (total !== undefined && loaded !== total) throw fail(`got ${loaded} bytes, the server announced ${total}`);
  const got = hash.digest('hex');
  if (want !== undefined && got !== want) throw fail(`sha256 ${got} differs from the stated ${want}`);
  fs.renameSync(part, dest);
  progress?.({ url: href, file, loaded, total: loaded, status: 'done' });
}

/** The cache folder of a URL: readable (host and path) and unique (a hash of the whole URL). */
function cacheFolder(root: string, url: URL): string {
  const tag = createHash('sha256').update(url.href.replace(/#.*$/, '')).digest('hex').slice(0, 12);
  const readable = `${url.host}${url.pathname}`.replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '').slice(-80);
  return path.join(root, `${readable}-${tag}`);
}

/** `file` of the folder at `base` into `dir`, from the cache when there already. */
async function fetchInto(url: URL, file: string, dir: string, progress?: SourceOptions['progress']): Promise<string> {
  const dest = path.join(dir, ...file.split('/'));
  if (fs.existsSync(dest)) {
    const size = fs.statSync(dest).size;
    progress?.({ url: url.href, file, loaded: size, total: size, status: 'cached' });
  } else {
    await download(url, dest, file, progress);
  }
  return dest;
}

/** A HEAD request's answer: whether the file exists on the server. */
async function exists(url: URL): Promise<boolean> {
  try {
    return (await fetch(url, { method: 'HEAD' })).ok;
  } catch {
    return false;
  }
}

/** The component folders diffusers' model_index.json lists ("unet": ["diffusers", "UNet2DConditionModel"]). */
function components(index: unknown, url: string): string[] {
  if (typeof index !== 'object' || index === null || Array.isArray(index)) throw new DiffusionError(`${url}: model_index.json is not a JSON object`);
  return Object.entries(index).filter(([k, v]) => !k.startsWith('_') && Array.isArray(v) && v[0] !== null).map(([k]) => k);
}

/** The files of a diffusers ONNX component that exist on the server (graphs, configs, external data, tokenizer). */
const COMPONENT_FILES = [
  'model.onnx', 'config.json', 'scheduler_config.json', 'weights.pb', 'model.onnx_data',
  'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json',
];

/**
 * A URL as a local path: a file URL (…/model.onnx) becomes the cached file; a folder URL becomes
 * the cached folder, with model_index.json's components (a diffusers layout) or model.onnx (a
 * checkpoint folder) in it.
 */
export async function resolveRemote(source: string | URL, options: SourceOptions = {}): Promise<string> {
  let url: URL;
  try {
    url = new URL(String(source));
  } catch {
    throw new OptionError('source', `is not a valid URL: ${String(source)}`);
  }
  if (options.cache !== undefined && options.cache !== false && typeof options.cache !== 'string') {
    throw new OptionError('cache', `must be a folder path or false, got ${typeof options.cache}`);
  }
  if (options.progress !== undefined && typeof options.progress !== 'function') throw new OptionError('progress', `must be a function, got ${typeof options.progress}`);
  const root = options.cache === false ? fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-diffusion-')) : options.cache ?? cacheDir();
  const isFile = /\.[a-z]+$/i.test(url.pathname) && !url.pathname.endsWith('/');
  if (isFile) {
    const name = url.pathname.split('/').pop()!;
    const dir = cacheFolder(root, new URL('.', url));
    return fetchInto(url, name, dir, options.progress);
  }
  const base = new URL(url.href.endsWith('/') ? url.href : `${url.href}/`);
  const dir = cacheFolder(root, base);
  if (await exists(new URL('model_index.json', base))) {
    const at = (file: string) => new URL(file, base);
    const indexFile = await fetchInto(at('model_index.json'), 'model_index.json', dir, options.progress);
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as unknown;
    for (const c of components(index, new URL('model_index.json', base).href)) {
      for (const f of COMPONENT_FILES) {
        const file = `${c}/${f}`;
        if (fs.existsSync(path.join(dir, c, f)) || (await exists(at(file)))) await fetchInto(at(file), file, dir, options.progress);
      }
    }
    return dir;
  }
  await fetchInto(new URL('model.onnx', base), 'model.onnx', dir, options.progress);
  return dir;
}
