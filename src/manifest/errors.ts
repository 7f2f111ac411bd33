import { isAbsolute, relative } from 'node:path';
import type { SourcePos } from '../model/types.js';

/** A problem in a manifest, at a 1-based line and column (0:0 when it concerns the whole file). */
export interface ManifestError {
  file: string;
  line: number;
  col: number;
  message: string;
}

/**
 * "manifests/api.yaml:3:9: message"; the file is shown relative to the working directory when
 * it is inside it. One parameter on purpose: callers write `errors.map(formatManifestError)`.
 */
export function formatManifestError(e: ManifestError): string {
  return formatManifestErrorFrom(process.cwd(), e);
}

/** formatManifestError with paths shown relative to `cwd` (e.g. loadManifests' opts.cwd). */
export function formatManifestErrorFrom(cwd: string, e: ManifestError): string {
  const where = e.line > 0 ? `${displayPath(e.file, cwd)}:${e.line}:${e.col}` : displayPath(e.file, cwd);
  return `${where}: ${e.message}`;
}

/** "manifests/api.yaml:3:9", for messages that point at another place. */
export function formatPos(pos: SourcePos, cwd: string = process.cwd()): string {
  return `${displayPath(pos.file, cwd)}:${pos.line}:${pos.col}`;
}

export function displayPath(file: string, cwd: string): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export function errorAt(pos: SourcePos, message: string): ManifestError {
  return { file: pos.file, line: pos.line, col: pos.col, message };
}

/** All errors sorted by file (in load order), then line and column. */
export function sortErrors(errors: ManifestError[], fileOrder: string[]): ManifestError[] {
  const rank = (file: string) => {
    const i = fileOrder.indexOf(file);
    return i < 0 ? fileOrder.length : i;
  };
  return [...errors].sort(
    (a, b) => rank(a.file) - rank(b.file) || a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col,
  );
}

/**
 * Formatted lines for a failed load: the reported errors, then "… and N more" when the load
 * stopped reporting at its cap (`total` counts every error found).
 */
export function formatManifestErrors(errors: ManifestError[], total: number = errors.length): string[] {
  const lines = errors.map(formatManifestError);
  const more = total - errors.length;
  if (more > 0) lines.push(`… and ${more} more error${more === 1 ? '' : 's'} not shown; fix these first`);
  return lines;
}
