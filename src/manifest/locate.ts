// Map a path inside a parsed document (["spec", "env", "PORT"]) back to its line and column.
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { SourcePos } from '../model/types.js';

export type DocPath = readonly (string | number)[];
/** "key" points at a map key ("imagee:"), "value" at the value. */
export type PathPart = 'key' | 'value';

/** A problem found in one document, at a path inside it (located to file:line:col by the loader). */
export interface Issue {
  path: DocPath;
  part: PathPart;
  message: string;
}
export type Locate = (path: DocPath, part?: PathPart) => SourcePos;

/**
 * Builds a locator for one document. A path that does not exist resolves to its nearest existing
 * ancestor, so every error lands somewhere sensible. A string segment applied to a list finds the
 * item with that value: ["spec", "dependsOn", "db"] works for both dependsOn forms.
 */
export function locator(doc: Document, lineCounter: LineCounter, file: string): Locate {
  const at = (offset: number): SourcePos => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  const docStart = at(doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0);

  return (path, part = 'value') => {
    let node: unknown = doc.contents;
    let pos = docStart;
    for (const [i, segment] of path.entries()) {
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) return pos;
        const keyPos = rangeStart(pair.key, at);
        if (last && part === 'key') return keyPos ?? pos;
        pos = rangeStart(pair.value, at) ?? keyPos ?? pos;
        node = pair.value;
      } else if (isSeq(node)) {
        const item =
          typeof segment === 'number'
            ? node.items[segment]
            : node.items.find((it) => isScalar(it) && String(it.value) === segment);
        if (item === undefined) return pos;
        pos = rangeStart(item, at) ?? pos;
        node = item;
      } else {
        return pos;
      }
    }
    return pos;
  };
}

function rangeStart(node: unknown, at: (offset: number) => SourcePos): SourcePos | undefined {
  const range = (node as Node | null)?.range;
  return range ? at(range[0]) : undefined;
}
