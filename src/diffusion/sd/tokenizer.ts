/**
 * CLIP's tokenizer for Stable Diffusion prompts, on @huggingface/tokenizers (pure JS, runs in the
 * page): reads `tokenizer/tokenizer.json`, or builds the same description from `vocab.json` plus
 * `merges.txt` (the files SD 1.x repositories ship), then pads and truncates to the text encoder's
 * length as transformers' CLIPTokenizer(padding="max_length", truncation=True) does:
 * [bos, tokens..., eos, pad, pad, ...], at most length - 2 tokens of the prompt.
 */
// The package's exports give require() its CommonJS build (dist/tokenizers.cjs) and bundlers its ES
// build; TypeScript's node16 resolution reads only its "types", an ES module whose extensionless
// relative imports it cannot follow, so the import is untyped (and flagged TS1479 in this CommonJS
// file, although the require() it emits resolves to the .cjs build). The part used is typed here.
// @ts-expect-error TS1479: see above
import { Tokenizer as untypedTokenizer } from '@huggingface/tokenizers';

/** The part of @huggingface/tokenizers' Tokenizer used here (its types/core/Tokenizer.d.ts). */
interface Tokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  token_to_id(token: string): number | undefined;
}
const Tokenizer = untypedTokenizer as new (tokenizerJson: object, tokenizerConfig: object) => Tokenizer;
import { FileFormatError } from '../../core/errors';
import { isObj, type Obj } from '../../core/schema';

/** The token ids of one prompt, and how many of its tokens did not fit. */
export interface ClipTokens {
  ids: Int32Array;
  /** Prompt tokens dropped by truncation (0 when it fit); diffusers logs a warning for these. */
  truncated: number;
}

/** The tokenizer/ folder's files as text; absent files are undefined. */
export interface TokenizerFiles {
  tokenizerJson?: string;
  tokenizerConfig?: string;
  specialTokensMap?: string;
  vocabJson?: string;
  mergesTxt?: string;
}

/** A special token as tokenizer_config.json writes it: a string, or {content: string}. */
function tokenName(v: unknown, fallback: string): string {
  if (typeof v === 'string') return v;
  if (isObj(v) && typeof v.content === 'string') return v.content;
  return fallback;
}

function parse(text: string, file: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FileFormatError(file, `not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObj(v)) throw new FileFormatError(file, 'expected a JSON object');
  return v;
}

/**
 * The tokenizer.json that transformers' CLIP converter writes for a vocab.json + merges.txt pair:
 * NFC, whitespace runs to one space, lowercase; CLIP's split pattern then byte-level; BPE with the
 * `</w>` end-of-word suffix; `bos ... eos` around the text (RobertaProcessing).
 */
export function clipTokenizerJson(vocab: Obj, merges: string, bos: string, eos: string, unk: string, source: string): Obj {
  const id = (tok: string) => {
    const v = vocab[tok];
    if (typeof v !== 'number') throw new FileFormatError(`${source}/vocab.json`, `has no token ${JSON.stringify(tok)}`);
    return v;
  };
  const lines = merges.split(/\r?\n/).filter((l) => l.length > 0 && !l.startsWith('#version'));
  const special = (content: string) => ({ id: id(content), content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [...new Set([bos, eos])].map(special),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [eos, id(eos)], cls: [bos, id(bos)], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false,
      byte_fallback: false, ignore_merges: false, vocab, merges: lines.map((l) => l.split(' ')),
    },
  };
}

export class ClipTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Sequence length of the encoder: ids are padded/truncated to it (77 for CLIP). */
    readonly maxLength: number,
    readonly bosId: number,
    readonly eosId: number,
    readonly padId: number,
  ) {}

  /**
   * From a tokenizer/ folder's files (`source` names the folder in errors). `maxLength` defaults
   * to tokenizer_config.json's model_max_length when it is a real length, else 77.
   */
  static fromFiles(files: TokenizerFiles, source: string, maxLength?: number): ClipTokenizer {
    const config = files.tokenizerConfig !== undefined ? parse(files.tokenizerConfig, `${source}/tokenizer_config.json`) : {};
    const map = files.specialTokensMap !== undefined ? parse(files.specialTokensMap, `${source}/special_tokens_map.json`) : {};
    const pick = (k: string, fallback: string) => tokenName(config[k] ?? map[k], fallback);
    const bos = pick('bos_token', '<|startoftext|>');
    const eos = pick('eos_token', '<|endoftext|>');
    const unk = pick('unk_token', eos);
    const padName = pick('pad_token', eos);
    let json: Obj;
    if (files.tokenizerJson !== undefined) json = parse(files.tokenizerJson, `${source}/tokenizer.json`);
    else if (files.vocabJson !== undefined && files.mergesTxt !== undefined) {
      json = clipTokenizerJson(parse(files.vocabJson, `${source}/vocab.json`), files.mergesTxt, bos, eos, unk, source);
    } else {
      throw new FileFormatError(source, 'no tokenizer: expected tokenizer.json, or vocab.json and merges.txt (a CLIP tokenizer folder)');
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (e) {
      throw new FileFormatError(`${source}/tokenizer.json`, `cannot build a tokenizer from it (${(e as Error).message.split('\n')[0]})`);
    }
    const idOf = (name: string, what: string) => {
      const id = tokenizer.token_to_id(name);
      if (id === undefined) throw new FileFormatError(source, `the ${what} token ${JSON.stringify(name)} is not in the vocabulary`);
      return id;
    };
    const configured = typeof config.model_max_length === 'number' && config.model_max_length >= 2 && config.model_max_length < 1e6
      ? config.model_max_length : 77;
    return new ClipTokenizer(tokenizer, maxLength ?? configured, idOf(bos, 'bos'), idOf(eos, 'eos'), idOf(padName, 'pad'));
  }

  /** [bos, prompt tokens (at most maxLength - 2), eos], padded with the pad token to maxLength. */
  encode(text: string): ClipTokens {
    const inner = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const room = this.maxLength - 2;
    const kept = inner.slice(0, room);
    const ids = new Int32Array(this.maxLength).fill(this.padId);
    ids[0] = this.bosId;
    ids.set(kept, 1);
    ids[kept.length + 1] = this.eosId;
    return { ids, truncated: inner.length - kept.length };
  }
}
