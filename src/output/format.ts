// Machine-readable output shared by every command's `-o json|yaml`.
import { stringify } from 'yaml';

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml' | 'text';

export function structured(data: unknown, format: string): string {
  const plain = JSON.parse(JSON.stringify(data, mapsToObjects));
  return format === 'json' ? JSON.stringify(plain, null, 2) : stringify(plain).trimEnd();
}

function mapsToObjects(_key: string, value: unknown): unknown {
  return value instanceof Map ? Object.fromEntries(value) : value;
}
