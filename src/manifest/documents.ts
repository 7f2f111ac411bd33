// One manifest file's YAML documents: parsed with a position for every problem, or, when the file's
// exact text parsed cleanly before, read back from the document cache. A cold parse is slow (the
// parser runs before V8 has optimized it: 2,000 documents took about a second of a no-op apply);
// the cached values are JSON, read in milliseconds. Positions inside a cached document are found
// by parsing the file for real, and only when an error needs one.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isScalar, LineCounter, parseAllDocuments, visit, type Document } from 'yaml';
import { locator, type Locate } from './locate.js';

/** A problem the YAML parser found, located. */
export interface YamlProblem {
  line: number;
  col: number;
  message: string;
}

/** One document: its problems, or its value (null for an empty one) and a locator into it. */
export type FileDocument = { problems: YamlProblem[] } | { value: unknown; at: Locate };

/** Part of every cache entry: raise it when what a document parses to changes. */
const CACHE_FORMAT = 1;

interface CacheEntry {
  format: number;
  /** sha256 of the file's text. */
  text: string;
  /** Every document in order: its value and where it starts. */
  documents: { value: unknown; line: number; col: number }[];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The documents of `file`, whose content is `text`. With `cacheDir`, a file that parsed without a
 * problem is remembered there under its path (one entry per manifest file, replaced when its text
 * changes), and the next read of the same text skips the parser.
 */
export async function fileDocuments(text: string, file: string, maxAliasCount: number, cacheDir?: string): Promise<FileDocument[]> {
  const entryFile = cacheDir ? join(cacheDir, `${sha256(file)}.json`) : undefined;
  const textHash = entryFile ? sha256(text) : '';
  if (entryFile) {
    const cached = await readEntry(entryFile, textHash);
    if (cached) return fromCache(cached, text, file, maxAliasCount);
  }
  const parsed = parseDocuments(text, file, maxAliasCount);
  if (entryFile && parsed.every((d) => 'value' in d && jsonSafe(d.value))) {
    const documents = parsed.map((d) => {
      const { line, col } = (d as { at: Locate }).at([]);
      return { value: (d as { value: unknown }).value, line, col };
    });
    await writeEntry(entryFile, { format: CACHE_FORMAT, text: textHash, documents });
  }
  return parsed;
}

/** Parse every document of `text`; problems are the parser's, duplicate keys and alias bombs. */
export function parseDocuments(text: string, file: string, maxAliasCount: number): FileDocument[] {
  // JSON goes through the YAML parser too: JSON is YAML, and this way it has positions.
  const lineCounter = new LineCounter();
  const out: FileDocument[] = [];
  // uniqueKeys off: the library checks each key against all earlier ones (quadratic; 100k keys
  // took minutes); duplicateKeys below does the same check with a set.
  for (const doc of parseAllDocuments(text, { lineCounter, uniqueKeys: false })) {
    const found = doc.errors.map((e) => ({ offset: e.pos[0], message: `invalid YAML: ${parserMessage(e.message)}` }));
    if (found.length === 0) found.push(...duplicateKeys(doc));
    if (found.length > 0) {
      out.push({ problems: found.map((p) => ({ ...lineCounter.linePos(Math.max(0, p.offset)), message: p.message })) });
      continue;
    }
    const at = locator(doc, lineCounter, file);
    try {
      out.push({ value: doc.toJS({ maxAliasCount }), at });
    } catch (err) {
      // The yaml library throws (without a position) when aliases expand too much.
      const aliases = /alias count/i.test((err as Error).message);
      const message = aliases
        ? `invalid YAML: its aliases (*name) expand to too much data (more than ${maxAliasCount} alias uses); write the values out or use fewer aliases`
        : `invalid YAML: ${(err as Error).message}`;
      const { line, col } = at([]);
      out.push({ problems: [{ line, col, message }] });
    }
  }
  return out;
}

function fromCache(entry: CacheEntry, text: string, file: string, maxAliasCount: number): FileDocument[] {
  // Where a path inside a document is: parse the file once, on the first error that asks.
  let parsed: FileDocument[] | undefined;
  const inside = (i: number): Locate | undefined => {
    const d = (parsed ??= parseDocuments(text, file, maxAliasCount))[i];
    return d && 'at' in d ? d.at : undefined;
  };
  return entry.documents.map((d, i) => {
    const start = { file, line: d.line, col: d.col };
    const at: Locate = (path, part) => (path.length === 0 ? start : (inside(i)?.(path, part) ?? start));
    return { value: d.value, at };
  });
}

async function readEntry(entryFile: string, textHash: string): Promise<CacheEntry | undefined> {
  try {
    const entry = JSON.parse(await readFile(entryFile, 'utf8')) as CacheEntry;
    return entry.format === CACHE_FORMAT && entry.text === textHash && Array.isArray(entry.documents) ? entry : undefined;
  } catch {
    return undefined; // none yet, or unreadable: parse
  }
}

/** Best effort: a cache that cannot be written only means the next load parses again. */
async function writeEntry(entryFile: string, entry: CacheEntry): Promise<void> {
  const dir = join(entryFile, '..');
  const tmp = `${entryFile}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    // The values may hold secrets (env values): readable by their owner only, like the store.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
    await rename(tmp, entryFile);
  } catch {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** Does JSON carry this value unchanged? (Not .inf or .nan, which JSON turns into null.) */
function jsonSafe(v: unknown): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(jsonSafe);
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.values(v as object).every(jsonSafe);
  return false;
}

/** "Map keys must be unique", as the yaml library says it, found in linear time. */
function duplicateKeys(doc: Document.Parsed): { offset: number; message: string }[] {
  const found: { offset: number; message: string }[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = pair.key.value;
        if (!seen.has(key)) {
          seen.add(key);
          continue;
        }
        found.push({ offset: pair.key.range?.[0] ?? 0, message: 'invalid YAML: Map keys must be unique' });
      }
    },
  });
  return found;
}

/** The yaml library's message without its " at line L, column C:" suffix and code excerpt. */
function parserMessage(message: string): string {
  return message.replace(/\s+at line \d+, column \d+:?[\s\S]*$/, '');
}
