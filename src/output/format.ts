// Machine-readable output shared by every command's `-o json|yaml`.
import { createRequire } from 'node:module';
import { parseJsonPath, type JsonPathTemplate } from './jsonpath.js';

// yaml is loaded on the first -o yaml, not with every command (CLI start-up; see src/cli/main.ts).
const load = createRequire(import.meta.url);
const stringify = (data: unknown): string => (load('yaml') as typeof import('yaml')).stringify(data);

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml' | 'text';

export function structured(data: unknown, format: string): string {
  const plain = JSON.parse(JSON.stringify(data, mapsToObjects));
  return format === 'json' ? JSON.stringify(plain, null, 2) : stringify(plain).trimEnd();
}

function mapsToObjects(_key: string, value: unknown): unknown {
  return value instanceof Map ? Object.fromEntries(value) : value;
}

/** A `-o` value for resource listings (get): the kubectl set, jsonpath parsed up front. */
export type ListFormat =
  | { type: 'table' | 'wide' | 'json' | 'yaml' | 'name' }
  | { type: 'jsonpath'; template: JsonPathTemplate };

export const LIST_FORMATS = ['table', 'wide', 'json', 'yaml', 'name', 'jsonpath=TEMPLATE'];

/** Parses `-o`; throws an Error saying what is accepted (commander reports it as a usage error). */
export function parseListFormat(value: string): ListFormat {
  if (value === 'table' || value === 'wide' || value === 'json' || value === 'yaml' || value === 'name') return { type: value };
  const jp = /^jsonpath=(.*)$/s.exec(value);
  if (jp) {
    if (jp[1]!.trim() === '') throw new Error('jsonpath= needs a template, e.g. -o jsonpath=\'{.items[*].metadata.name}\'');
    return { type: 'jsonpath', template: parseJsonPath(jp[1]!) };
  }
  throw new Error(`unknown output format "${value}"; use one of ${LIST_FORMATS.join(', ')}`);
}
