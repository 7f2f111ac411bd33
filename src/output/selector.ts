// `-l SELECTOR` on get/delete: kubectl label selectors over metadata.labels, pure.
//   key=value, key==value, key!=value, key (has the label), !key (does not),
//   key in (a,b), key notin (a,b); comma-separated requirements must all hold.

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

export type Requirement =
  | { key: string; op: 'eq' | 'ne'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'absent' };

const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const VALUE = /^[A-Za-z0-9._/:@+-]*$/;

const EXAMPLES = 'use e.g. app=web, tier!=db, app, !legacy or env in (dev,ci), comma-separated';

/** Parses a selector; throws SelectorError naming the bad part. An empty selector matches everything. */
export function parseSelector(source: string): Requirement[] {
  const parts = splitTopLevel(source);
  return parts.map((raw) => {
    const part = raw.trim();
    const fail = (what: string): never => {
      throw new SelectorError(`invalid label selector ${JSON.stringify(source)}: ${what} in "${part}"; ${EXAMPLES}`);
    };
    if (part === '') fail('empty requirement');
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
    if (set) {
      const values = set[3]!.split(',').map((v) => v.trim());
      if (values.some((v) => v === '' || !VALUE.test(v))) fail('bad value list');
      return { key: checkKey(set[1]!, fail), op: set[2] as 'in' | 'notin', values };
    }
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (m) {
      const value = m[3]!.trim();
      if (!VALUE.test(value)) fail(`bad value "${value}"`);
      return { key: checkKey(m[1]!, fail), op: m[2] === '!=' ? 'ne' : 'eq', value };
    }
    if (part.startsWith('!')) return { key: checkKey(part.slice(1).trim(), fail), op: 'absent' };
    return { key: checkKey(part, fail), op: 'exists' };
  });
}

function checkKey(key: string, fail: (what: string) => never): string {
  if (!KEY.test(key)) fail(`bad label key "${key}"`);
  return key;
}

/** Commas inside "in (a,b)" do not separate requirements. */
function splitTopLevel(s: string): string[] {
  if (s.trim() === '') return [];
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')') depth--;
    else if (s[i] === ',' && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

export function matchesSelector(labels: Record<string, string> | undefined, requirements: Requirement[]): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'eq':
        return has && l[r.key] === r.value;
      case 'ne':
        return !has || l[r.key] !== r.value; // kubectl: a missing label is "not equal"
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        return !has || !r.values.includes(l[r.key]!);
      case 'exists':
        return has;
      case 'absent':
        return !has;
    }
  });
}
