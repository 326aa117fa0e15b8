/**
 * The page's cache of caption encodings, in IndexedDB: what Node keeps in RUN/cache/
 * (train/caption-cache.ts), kept per item so that reopening the page, or a second trainer on the
 * same pictures, runs no encoder, and a changed picture or caption re-encodes only that item.
 *
 * One record per item, keyed by
 *   model key / resolution / SHA-256 of the picture's bytes / SHA-256 of the caption and its token ids
 * and one record for the empty prompt's embedding (model key / empty). The model key is the SHA-256 of
 * the folder URL, the SHA-256 of text_encoder/model.onnx's and vae_encoder/model.onnx's bytes (the
 * bytes the trainer fetches anyway: hashing them costs no download and a replaced file at the same URL
 * is caught, which an ETag or Content-Length check would trust the server for), each one's external
 * data files by name with the server's ETag, Last-Modified and Content-Length (these can be gigabytes
 * and ONNX Runtime fetches them itself, so they are not hashed), and the VAE's scaling_factor (the
 * cached latents are the encoder's mean times it). A different model or tokenizer never reuses stale
 * encodings; old records stay until `clearEncodingCache()`.
 *
 * A browser without IndexedDB or crypto.subtle, a refused open, or a full quota: a warning, and the
 * run goes on without the cache.
 */
import type { CaptionedItem } from '../data/caption-text';
import type { FolderAccess } from '../diffusion/sd/load';
import type { StableDiffusion } from '../diffusion/sd/pipeline';
import type { EncodedCaptions, EncodingReuse, ItemEncoding } from '../train/caption-encode';
import type { CaptionedSet } from './captioned-data';
import { externalDataFiles } from './sd';

const DB_PREFIX = 'onnx-diffusion-encodings';
const STORE = 'encodings';
/** The encoder files whose bytes decide the encodings. @internal */
export const ENCODER_FILES = ['text_encoder/model.onnx', 'vae_encoder/model.onnx'] as const;

/** The IndexedDB database of a cache name: `cache: true` uses the default one. */
export const encodingCacheDatabase = (name?: string): string => (name ? `${DB_PREFIX}:${name}` : DB_PREFIX);

const hex = (b: ArrayBuffer): string => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
async function sha256(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return hex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((res, rej) => {
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((res, rej) => {
    tx.oncomplete = () => res();
    tx.onerror = () => rej(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => rej(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

function openDb(name: string): Promise<IDBDatabase> {
  const r = indexedDB.open(name, 1);
  r.onupgradeneeded = () => { r.result.createObjectStore(STORE); };
  return request(r);
}

/** Deletes the page's encoding cache `name` (default: the one `cache: true` uses). Resolves once it is gone. */
export async function clearEncodingCache(name?: string): Promise<void> {
  if (typeof indexedDB === 'undefined') return;
  await request(indexedDB.deleteDatabase(encodingCacheDatabase(name)));
}

/**
 * @internal
 * A folder whose encoder files are hashed as they are fetched: `identity()` gives the model key's
 * parts. A file's bytes are kept only until its session is made (the VAE encoder's are fetched
 * early when `identity()` needs them, and handed to its session then), so nothing is fetched
 * twice and the text encoder's bytes (492 MB at SD-1.5 size) are not held while encoding;
 * `release()` lets go of the VAE encoder's when every item came from the cache (no session made).
 */
export function hashingFolder(folder: FolderAccess, base: string): FolderAccess & { identity(): Promise<string[]>; release(): void } {
  const isEncoder = (rel: string) => (ENCODER_FILES as readonly string[]).includes(rel);
  const kept = new Map<string, Promise<Uint8Array>>();
  const digests = new Map<string, Promise<string>>();
  const externals = new Map<string, string[]>();
  const bytes = (rel: string): Promise<Uint8Array> => {
    if (!isEncoder(rel)) return folder.bytes(rel);
    let b = kept.get(rel);
    if (!b) {
      kept.set(rel, b = folder.bytes(rel));
      const got = b;
      digests.set(rel, got.then((m) => {
        externals.set(rel, externalDataFiles(m, new URL(rel, base).href));
        return sha256(m);
      }));
    }
    return b;
  };
  /** The bytes a session of `rel` is made from: the given ones, or an encoder file's (fetched and hashed), then let go. */
  const given = async (rel: string, b?: Uint8Array): Promise<Uint8Array | undefined> => {
    if (!isEncoder(rel)) return b;
    const fetched = await bytes(rel);
    kept.delete(rel);
    return b ?? fetched;
  };
  const f32 = folder.float32Session;
  return {
    source: folder.source,
    text: (rel) => folder.text(rel),
    bytes,
    session: async (rel, b) => folder.session(rel, await given(rel, b)),
    ...(f32 ? { float32Session: async (rel: string, b?: Uint8Array) => f32(rel, await given(rel, b)) } : {}),
    async identity() {
      const parts = [base];
      for (const rel of ENCODER_FILES) {
        if (!digests.has(rel)) await bytes(rel);
        parts.push(`${rel} sha256:${await digests.get(rel)!}`);
        const url = new URL(rel, base).href;
        for (const p of externals.get(rel) ?? []) {
          const res = await fetch(new URL(p, url).href, { method: 'HEAD' });
          const h = (k: string) => res.headers.get(k) ?? '';
          parts.push(`${p} etag:${h('etag')} modified:${h('last-modified')} length:${h('content-length')}`);
        }
      }
      return parts;
    },
    release() { kept.clear(); },
  };
}

interface ItemRecord { latent: Float32Array; latentDims: number[]; embedding: Float32Array; embeddingDims: number[] }

/** An opened cache for one model and resolution: what it holds for a set, and a store for what was encoded. @internal */
export interface EncodingCache {
  reuse: EncodingReuse;
  /** Stores the encodings of the items that were not reused (and the empty prompt's); warns and goes on when it cannot. */
  save(enc: EncodedCaptions): Promise<void>;
}

/**
 * @internal
 * Opens the cache `name` and looks up every item of `set` for this model (`identity`, from
 * hashingFolder) at `resolution`. Undefined (after a warning) when the browser cannot keep one.
 */
export async function openEncodingCache(
  name: string | undefined, identity: () => Promise<string[]>, sd: StableDiffusion, set: CaptionedSet, resolution: number,
  warn: (message: string) => void,
): Promise<EncodingCache | undefined> {
  const db = encodingCacheDatabase(name);
  if (typeof indexedDB === 'undefined' || typeof crypto === 'undefined' || !crypto.subtle) {
    warn(`cache: this browser has no ${typeof indexedDB === 'undefined' ? 'IndexedDB' : 'crypto.subtle (a secure context is needed)'}; encoding without a cache`);
    return undefined;
  }
  let conn: IDBDatabase;
  try {
    conn = await openDb(db);
  } catch (e) {
    warn(`cache: IndexedDB ${db} could not be opened (${(e as Error).message}); encoding without a cache`);
    return undefined;
  }
  try {
    const model = await sha256(JSON.stringify([...await identity(), `scaling_factor ${sd.parts.scalingFactor}`]));
    const keyOf = async (it: CaptionedItem): Promise<string> => {
      const picture = await sha256(new Uint8Array(await (await set.picture(it)).arrayBuffer()));
      const caption = await sha256(`${it.caption}\0${Array.from(sd.parts.tokenizer.encode(it.caption).ids).join(',')}`);
      return `${model}/${resolution}/${picture}/${caption}`;
    };
    const keys: string[] = [];
    for (const it of set.items) keys.push(await keyOf(it));
    const emptyKey = `${model}/empty`;
    const tx = conn.transaction(STORE, 'readonly');
    const store = tx.objectStore(STORE);
    const [records, empty] = await Promise.all([
      Promise.all(keys.map((k) => request(store.get(k)) as Promise<ItemRecord | undefined>)),
      request(store.get(emptyKey)) as Promise<Float32Array | undefined>,
    ]);
    const found = records.map((r): ItemEncoding | undefined => r);
    return {
      reuse: { item: (i) => found[i], empty },
      async save(enc) {
        const per = enc.latents.length / enc.items.length;
        const perE = enc.embeddings.length / enc.items.length;
        try {
          const w = conn.transaction(STORE, 'readwrite');
          const s = w.objectStore(STORE);
          enc.items.forEach((_, i) => {
            if (found[i]) return;
            const rec: ItemRecord = {
              latent: enc.latents.slice(i * per, (i + 1) * per), latentDims: enc.latentDims,
              embedding: enc.embeddings.slice(i * perE, (i + 1) * perE), embeddingDims: enc.embeddingDims,
            };
            s.put(rec, keys[i]);
          });
          if (!empty) s.put(enc.empty, emptyKey);
          await done(w);
        } catch (e) {
          const { name: kind, message } = e as Error;
          warn(`cache: the encodings could not be stored in IndexedDB ${db} (${kind}${message ? `: ${message}` : ''}); the run goes on without them`);
        } finally {
          conn.close();
        }
      },
    };
  } catch (e) {
    conn.close();
    warn(`cache: IndexedDB ${db} could not be read (${(e as Error).message}); encoding without a cache`);
    return undefined;
  }
}
