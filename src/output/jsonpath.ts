// `-o jsonpath=TEMPLATE`: the kubectl dialect of JSONPath (text with {expressions}), pure.
//
// Supported, as in kubectl: literal text; {.a.b} fields ("." alone is the whole object);
// {.a['b.c']} quoted fields; [n] (negative from the end), [a:b] slices, [*] and .* wildcards;
// ..name recursive descent; [?(@.x == "y")] filters (==, !=, <, <=, >, >=, or @.x alone for
// "exists"); {range EXPR}…{end}; "string" literals with \n \t \\ \" escapes. Several results of
// one expression are joined with a space; strings print raw, other values as JSON; a path that
// is not there prints nothing (kubectl's --allow-missing-template-keys default).

export class JsonPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonPathError';
  }
}

type Step =
  | { type: 'field'; name: string }
  | { type: 'wildcard' }
  | { type: 'recursive'; name: string | '*' }
  | { type: 'index'; index: number }
  | { type: 'slice'; start?: number; end?: number }
  | { type: 'filter'; path: Step[]; op?: FilterOp; value?: Literal };

type FilterOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
type Literal = string | number | boolean | null;

type Node =
  | { type: 'text'; text: string }
  | { type: 'path'; steps: Step[] }
  | { type: 'literal'; text: string }
  | { type: 'range'; steps: Step[]; body: Node[] };

export interface JsonPathTemplate {
  readonly source: string;
  readonly nodes: Node[];
}

/** Parses a template; throws JsonPathError saying what is wrong and where. */
export function parseJsonPath(source: string): JsonPathTemplate {
  const stack: { nodes: Node[]; range?: Extract<Node, { type: 'range' }> }[] = [{ nodes: [] }];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{', i);
    const top = stack[stack.length - 1]!;
    if (open < 0) {
      top.nodes.push({ type: 'text', text: source.slice(i) });
      break;
    }
    if (open > i) top.nodes.push({ type: 'text', text: source.slice(i, open) });
    const close = findClose(source, open);
    if (close < 0) throw new JsonPathError(`unclosed "{" at column ${open + 1} of ${JSON.stringify(source)}`);
    const expr = source.slice(open + 1, close).trim();
    const where = `"{${expr}}" at column ${open + 1}`;
    if (expr === '') throw new JsonPathError(`empty expression ${where}`);
    if (expr === 'end') {
      if (stack.length === 1) throw new JsonPathError(`{end} at column ${open + 1} without a {range}`);
      stack.pop();
    } else if (/^range\s/.test(expr)) {
      const node: Extract<Node, { type: 'range' }> = { type: 'range', steps: parsePath(expr.slice(6).trim(), where), body: [] };
      top.nodes.push(node);
      stack.push({ nodes: node.body, range: node });
    } else if (expr.startsWith('"')) {
      top.nodes.push({ type: 'literal', text: parseString(expr, where) });
    } else {
      top.nodes.push({ type: 'path', steps: parsePath(expr, where) });
    }
    i = close + 1;
  }
  if (stack.length > 1) throw new JsonPathError(`{range} without a matching {end} in ${JSON.stringify(source)}`);
  return { source, nodes: stack[0]!.nodes };
}

/** Renders a parsed template against data. */
export function executeJsonPath(template: JsonPathTemplate, data: unknown): string {
  return render(template.nodes, data);
}

function render(nodes: Node[], data: unknown): string {
  let out = '';
  for (const node of nodes) {
    if (node.type === 'text' || node.type === 'literal') out += node.text;
    else if (node.type === 'path') out += evaluate(node.steps, data).map(show).join(' ');
    else for (const item of iterate(evaluate(node.steps, data))) out += render(node.body, item);
  }
  return out;
}

/** {range .items[*]} walks the matches; {range .items} walks the one array's elements. */
function iterate(values: unknown[]): unknown[] {
  return values.length === 1 && Array.isArray(values[0]) ? values[0] : values;
}

function show(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined) return '';
  return JSON.stringify(v);
}

/** The "}" closing the "{" at `open`, skipping quoted strings and brackets. */
function findClose(s: string, open: number): number {
  let quote: string | undefined;
  let depth = 0;
  for (let i = open + 1; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '(') depth++;
    else if (c === ']' || c === ')') depth--;
    else if (c === '}' && depth <= 0) return i;
  }
  return -1;
}

function parseString(expr: string, where: string): string {
  const m = /^"((?:[^"\\]|\\.)*)"$/.exec(expr);
  if (!m) throw new JsonPathError(`bad string literal ${where}: use "text" with \\n, \\t, \\\\ or \\" escapes`);
  return m[1]!.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c);
}

const IDENT = /^[A-Za-z0-9_$-]+/;

function parsePath(expr: string, where: string): Step[] {
  const steps: Step[] = [];
  let rest = expr;
  const fail = (what: string): never => {
    throw new JsonPathError(`${what} in ${where}; expected e.g. {.metadata.name}, {.items[*].metadata.name} or {.items[0]}`);
  };
  if (rest.startsWith('$')) rest = rest.slice(1);
  if (rest === '.' || rest === '') return steps;
  if (!rest.startsWith('.') && !rest.startsWith('[')) rest = '.' + rest; // kubectl accepts {metadata.name}
  while (rest.length) {
    if (rest.startsWith('..')) {
      rest = rest.slice(2);
      if (rest.startsWith('*')) {
        steps.push({ type: 'recursive', name: '*' });
        rest = rest.slice(1);
        continue;
      }
      const m = IDENT.exec(rest);
      if (!m) fail(`a field name must follow ".." at "${rest || 'the end'}"`);
      steps.push({ type: 'recursive', name: m![0] });
      rest = rest.slice(m![0].length);
    } else if (rest.startsWith('.')) {
      rest = rest.slice(1);
      if (rest.startsWith('*')) {
        steps.push({ type: 'wildcard' });
        rest = rest.slice(1);
        continue;
      }
      const m = IDENT.exec(rest);
      if (!m) fail(`a field name must follow "." at "${rest || 'the end'}"`);
      steps.push({ type: 'field', name: m![0] });
      rest = rest.slice(m![0].length);
    } else if (rest.startsWith('[')) {
      const close = bracketEnd(rest);
      if (close < 0) fail(`unclosed "[" at "${rest}"`);
      steps.push(parseBracket(rest.slice(1, close).trim(), fail));
      rest = rest.slice(close + 1);
    } else {
      fail(`unexpected "${rest}"`);
    }
  }
  return steps;
}

function bracketEnd(s: string): number {
  let quote: string | undefined;
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return i;
  }
  return -1;
}

function parseBracket(inner: string, fail: (what: string) => never): Step {
  if (inner === '*') return { type: 'wildcard' };
  const quoted = /^(['"])(.*)\1$/.exec(inner);
  if (quoted) return { type: 'field', name: quoted[2]! };
  if (/^-?\d+$/.test(inner)) return { type: 'index', index: Number(inner) };
  const slice = /^(-?\d+)?:(-?\d+)?$/.exec(inner);
  if (slice) return { type: 'slice', start: slice[1] === undefined ? undefined : Number(slice[1]), end: slice[2] === undefined ? undefined : Number(slice[2]) };
  const filter = /^\?\((.*)\)$/s.exec(inner);
  if (filter) {
    const m = /^@((?:\.[A-Za-z0-9_$-]+|\[[^\]]*\])*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+))?$/.exec(filter[1]!.trim());
    if (!m) fail(`bad filter "[${inner}]" (use [?(@.field == "value")] or [?(@.field)])`);
    const path = m![1] ? parsePath(m![1], `filter "[${inner}]"`) : [];
    if (!m![2]) return { type: 'filter', path };
    return { type: 'filter', path, op: m![2] as FilterOp, value: parseLiteral(m![3]!.trim(), fail) };
  }
  return fail(`unsupported "[${inner}]"`);
}

function parseLiteral(text: string, fail: (what: string) => never): Literal {
  const q = /^(['"])(.*)\1$/.exec(text);
  if (q) return q[2]!;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null') return null;
  return fail(`bad filter value ${text} (quote strings: "value")`);
}

function evaluate(steps: Step[], data: unknown): unknown[] {
  let current: unknown[] = [data];
  for (const step of steps) current = current.flatMap((v) => apply(step, v));
  return current;
}

function apply(step: Step, v: unknown): unknown[] {
  switch (step.type) {
    case 'field':
      return isObject(v) && step.name in v ? [v[step.name]] : [];
    case 'wildcard':
      return Array.isArray(v) ? v : isObject(v) ? Object.values(v) : [];
    case 'index': {
      if (!Array.isArray(v)) return [];
      const i = step.index < 0 ? v.length + step.index : step.index;
      return i >= 0 && i < v.length ? [v[i]] : [];
    }
    case 'slice':
      return Array.isArray(v) ? v.slice(step.start, step.end) : [];
    case 'recursive':
      return descend(v, step.name);
    case 'filter': {
      const items = Array.isArray(v) ? v : isObject(v) ? Object.values(v) : [];
      return items.filter((item) => {
        const found = evaluate(step.path, item);
        if (!step.op) return found.length > 0 && found[0] !== null && found[0] !== false;
        return found.some((x) => compare(x, step.op!, step.value!));
      });
    }
  }
}

function descend(v: unknown, name: string): unknown[] {
  const out: unknown[] = [];
  const walk = (x: unknown) => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (isObject(x)) {
      for (const [k, child] of Object.entries(x)) {
        if (name === '*' || k === name) out.push(child);
        walk(child);
      }
    }
  };
  walk(v);
  return out;
}

function compare(x: unknown, op: FilterOp, value: Literal): boolean {
  if (op === '==') return x === value;
  if (op === '!=') return x !== value;
  if (typeof x !== typeof value || (typeof x !== 'number' && typeof x !== 'string')) return false;
  const a = x as number | string;
  const b = value as number | string;
  return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
