/**
 * The one name matcher of the project, for `--trainable` and `--lora-targets`: comma-separated
 * globs where `*` matches any run of characters (dots and slashes included) and a leading `!`
 * excludes. One meaning of an empty include list: a pattern with no include globs (empty, or only
 * `!` globs) includes every name, then the exclusions apply. Pure.
 */

/** A matcher over one thing known by several names (a weight name, its node's name, its module key). */
export type NameMatcher = (names: string | readonly string[]) => boolean;

const toRegExp = (glob: string): RegExp => new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);

/** The pattern's comma-separated parts, trimmed, empty ones dropped. */
export function globParts(pattern: string | undefined): { include: string[]; exclude: string[] } {
  const parts = (pattern ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  return { include: parts.filter((p) => !p.startsWith('!')), exclude: parts.filter((p) => p.startsWith('!')).map((p) => p.slice(1)) };
}

/** True when some name matches an include glob (or there is none) and no name matches an exclude glob. */
export function globMatcher(pattern: string | undefined): NameMatcher {
  const { include, exclude } = globParts(pattern);
  const inc = include.map(toRegExp);
  const exc = exclude.map(toRegExp);
  return (names) => {
    const list = typeof names === 'string' ? [names] : names;
    return (inc.length === 0 || list.some((n) => inc.some((r) => r.test(n)))) && !list.some((n) => exc.some((r) => r.test(n)));
  };
}
