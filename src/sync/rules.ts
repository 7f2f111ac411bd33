// Which files of a source tree are synced: .gitignore rules as git reads them (a file in every
// directory, its patterns relative to that directory, deeper files overriding shallower ones),
// then .vendettaignore with the same syntax, read after .gitignore in the same directory so it
// can add exclusions or re-include (`!dist/`) what git ignores. `.git` is never synced.
// Pure: the caller reads the ignore files.
import ignore, { type Ignore } from 'ignore';

/** Read in this order in every directory; later rules win. */
export const IGNORE_FILES = ['.gitignore', '.vendettaignore'] as const;

/** Never synced, whatever the rules say: the repository's own database. */
export const ALWAYS_EXCLUDED = new Set(['.git']);

/** The rules of one directory: `base` is its path relative to the root ('' for the root). */
export interface RuleLevel {
  base: string;
  rules: Ignore;
}

/** The level for a directory from the texts of its ignore files; undefined when there are none. */
export function ruleLevel(base: string, texts: string[]): RuleLevel | undefined {
  const present = texts.filter((t) => t.trim() !== '');
  if (present.length === 0) return undefined;
  const rules = ignore();
  for (const t of present) rules.add(t);
  return { base, rules };
}

/**
 * Is `rel` (posix, relative to the root) excluded under `levels` (outermost first)? As in git,
 * the deepest level with an opinion decides: a match ignores, a negated match re-includes.
 * Callers do not descend into an excluded directory, so nothing under it can be re-included.
 */
export function isExcluded(levels: readonly RuleLevel[], rel: string, isDir: boolean): boolean {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  if (ALWAYS_EXCLUDED.has(name)) return true;
  let excluded = false;
  for (const level of levels) {
    const sub = level.base === '' ? rel : rel.slice(level.base.length + 1);
    const verdict = level.rules.test(isDir ? `${sub}/` : sub);
    if (verdict.ignored) excluded = true;
    else if (verdict.unignored) excluded = false;
  }
  return excluded;
}
