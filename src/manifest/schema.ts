// Schema validation of one document, with ajv errors turned into messages a person can act on.
// Pure: takes the parsed value, returns issues with document paths (load.ts maps them to lines).
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import nodeSchema from '../../schemas/node.schema.json' with { type: 'json' };
import workspaceSchema from '../../schemas/workspace.schema.json' with { type: 'json' };
import serviceSchema from '../../schemas/service.schema.json' with { type: 'json' };
import { API_VERSION, KINDS, type Kind } from '../model/types.js';
import { durationWithin, parseDuration, parseQuantity } from '../model/quantity.js';
import { parsePortSpec } from '../model/ports.js';
import type { DocPath, Issue, PathPart } from './locate.js';
import { providerSupportIssues } from './providers.js';
import { volumeIssues } from '../model/volumes.js';
import { PROVIDERS } from '../model/types.js';
import { describeValue, didYouMean, MAX_QUOTED, pathText, quote } from './text.js';
import * as generated from './validators.generated.js';

export const SCHEMAS: Record<Kind, object> = {
  Node: nodeSchema,
  Workspace: workspaceSchema,
  Service: serviceSchema,
};

export type { Issue } from './locate.js';

// A valid document is checked by code ajv generated from the schemas at development time
// (scripts/gen-validators.mjs): no ajv to load, nothing to compile. ajv itself is loaded, and
// compiles the schemas with verbose errors, only to explain a document that fails.
const CHECKS: Record<Kind, (value: unknown) => boolean> = generated;

type Ajv = import('ajv/dist/2020.js').default;
let ajvInstance: Ajv | undefined;
function ajv(): Ajv {
  if (ajvInstance) return ajvInstance;
  // Loaded synchronously on first need (ajv is CommonJS): validateDocument stays synchronous.
  const Ajv2020 = createRequire(import.meta.url)('ajv/dist/2020.js').default as new (options: object) => Ajv;
  // verbose: errors carry parentSchema, which tells which $defs entry failed (for the hints below).
  // strictTypes/strictRequired are off because if/then/anyOf branches name properties declared
  // by the enclosing schema, which ajv's strict mode cannot see.
  const instance = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false });
  // "maxDuration": "24h" bounds a duration string (a regex cannot bound a sum like "1h30m").
  // Editors ignore the keyword; vendetta checks it (scripts/gen-validators.mjs gives it the same rule).
  instance.addKeyword({
    keyword: 'maxDuration',
    type: 'string',
    schemaType: 'string',
    errors: false,
    validate: (max: string, data: string) => durationWithin(data, max),
  });
  return (ajvInstance = instance);
}

/** Compiles another schema with the same options and keywords (tests check schemas/vendetta.schema.json). */
export function compileSchema(schema: object): ValidateFunction {
  return ajv().compile(schema);
}

// Compiled on the first document that fails its generated check.
let explainers: Map<Kind, ValidateFunction> | undefined;
function explainerFor(kind: Kind): ValidateFunction {
  explainers ??= new Map(KINDS.map((k) => [k, ajv().compile(SCHEMAS[k])]));
  return explainers.get(kind)!;
}

// Every object inside a schema's $defs, mapped to the def's name, so an error can say "is not a
// valid duration" rather than quote a regex.
const defOf = new Map<object, string>();
for (const schema of Object.values(SCHEMAS) as { $defs?: Record<string, object> }[]) {
  for (const [name, def] of Object.entries(schema.$defs ?? {})) walkObjects(def, (o) => defOf.set(o, name));
}

/** What a string must look like, per $defs entry: a parser whose error explains, or a hint. */
const FORMAT_CHECKS: Record<string, { thing: string; hint?: string; parse?: (s: string) => unknown }> = {
  name: { thing: 'name', hint: 'use lowercase letters, digits and "-" (max 63)' },
  envName: { thing: 'variable name', hint: 'use letters, digits and "_", not starting with a digit' },
  duration: { thing: 'duration', hint: 'use a number and a unit (ms, s, m, h), e.g. "500ms", "2s", "1h30m"', parse: parseDuration },
  quantity: { thing: 'quantity', hint: 'use a number with an optional unit (K, M, G, T or Ki, Mi, Gi, Ti), e.g. "512Mi", "2Gi"', parse: parseQuantity },
  hostKey: { thing: 'host key', hint: 'write it as "<type> <base64>", e.g. "ssh-ed25519 AAAAC3Nz…" (an ssh-keyscan line without the host)' },
  containerUser: { thing: 'user', hint: 'write a user name, a uid or "uid:gid" (e.g. "1000:1000"): letters, digits, "_", ".", "-", no spaces or shell characters' },
  httpPath: { thing: 'path', hint: 'start it with "/" and write white space as %20, e.g. "/health"' },
};

/** Messages for "exactly one of / at least one of" rules, per $defs entry. */
const COMPOSITE_MESSAGES: Record<string, string> = {
  qemuBoot: 'needs "image" (a disk image) or "vm.kernel" (a kernel to boot) for provider qemu',
  source: 'needs exactly one of "path" or "git"',
  dockerImage: 'needs "image" (an image reference) or "build" (a Dockerfile to build on the node) for provider docker',
  healthcheck: 'needs exactly one check: "exec", "tcp" or "http"',
};

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
  null: 'empty',
};

/** Validates one parsed document. `kind` is set when the document has a supported kind. */
export function validateDocument(value: unknown): { kind?: Kind; issues: Issue[] } {
  if (!isPlainObject(value)) {
    return {
      issues: [
        { path: [], part: 'value', message: `expected a manifest (a map with apiVersion, kind, metadata and spec), got ${describeValue(value)}` },
      ],
    };
  }
  const issues: Issue[] = [];
  const supported = `supported kinds are ${KINDS.join(', ')}`;
  if (!('apiVersion' in value)) {
    issues.push({ path: [], part: 'value', message: `missing apiVersion: add "apiVersion: ${API_VERSION}"` });
  } else if (value.apiVersion !== API_VERSION) {
    issues.push({
      path: ['apiVersion'],
      part: 'value',
      message: `unsupported apiVersion ${describeValue(value.apiVersion)}: use ${API_VERSION}`,
    });
  }
  const kind = KINDS.find((k) => k === value.kind);
  if (!('kind' in value)) {
    issues.push({ path: [], part: 'value', message: `missing kind: ${supported}` });
  } else if (kind === undefined) {
    const suggestion = typeof value.kind === 'string' ? didYouMean(value.kind, KINDS) : '';
    issues.push({ path: ['kind'], part: 'value', message: `unknown kind ${describeValue(value.kind)}: ${supported}${suggestion}` });
  }
  if (kind === undefined) return { issues };

  const where = subjectOf(kind, value);
  if (!CHECKS[kind](value)) {
    const validate = explainerFor(kind);
    validate(value);
    issues.push(...explain(validate.errors ?? [], where, value));
  }
  if (kind === 'Workspace') issues.push(...portMappingIssues(value, where), ...providerSupportIssues(value, where([])), ...workspaceVolumeIssues(value, where), ...networkIssues(value, where), ...buildImageIssues(value, where));
  return { kind, issues };
}

/** `Workspace "api" spec.image`: how messages name a place in a document. */
function subjectOf(kind: Kind, doc: Record<string, unknown>): (path: DocPath) => string {
  const name = (doc.metadata as { name?: unknown } | undefined)?.name;
  const subject = isValidName(name) ? `${kind} ${JSON.stringify(name)}` : kind;
  return (path) => (path.length > 0 ? `${subject} ${pathText(path)}` : subject);
}

// Compose port syntax plus range checks; the schema's pattern only covers the syntax.
function portMappingIssues(doc: Record<string, unknown>, where: (path: DocPath) => string): Issue[] {
  const ports = (doc.spec as { ports?: unknown } | undefined)?.ports;
  if (!Array.isArray(ports)) return [];
  const issues: Issue[] = [];
  ports.forEach((port, i) => {
    if (typeof port !== 'string') return; // a type error from the schema
    if (port.length > MAX_QUOTED) {
      const message = `${quote(port)} is not a valid port mapping: use "[ip:]hostPort:containerPort[/tcp|udp]"`;
      issues.push({ path: ['spec', 'ports', i], part: 'value', message: `${where(['spec', 'ports', i])} ${message}` });
      return;
    }
    try {
      parsePortSpec(port);
    } catch (err) {
      issues.push({ path: ['spec', 'ports', i], part: 'value', message: `${where(['spec', 'ports', i])} ${(err as Error).message}` });
    }
  });
  return issues;
}

// A built image is tagged by vendetta (vendetta-build/<workspace>:<hash>): an image name beside
// it would be a second, contradicting answer to "what runs".
function buildImageIssues(doc: Record<string, unknown>, where: (path: DocPath) => string): Issue[] {
  const spec = doc.spec as { image?: unknown; build?: unknown; pull?: unknown; provider?: unknown } | undefined;
  // Other providers refuse spec.build itself (./providers.ts).
  if (!isPlainObject(spec) || spec.build === undefined || spec.provider !== 'docker') return [];
  const issues: Issue[] = [];
  if (spec.image !== undefined) {
    const path: DocPath = ['spec', 'image'];
    issues.push({ path, part: 'key', message: `${where(path)}: set either spec.image or spec.build, not both (a built image is tagged vendetta-build/<workspace>:<hash>); remove one` });
  }
  // "missing" is the default (withDefaults writes it): nothing is pulled for a built image.
  if (spec.pull !== undefined && spec.pull !== 'missing') {
    const path: DocPath = ['spec', 'pull'];
    issues.push({ path, part: 'key', message: `${where(path)}: a built image is never pulled (its FROM images must be on the node); remove spec.pull` });
  }
  return issues;
}

// Names unique, paths usable and apart (src/model/volumes.ts); the schema checks the shape.
function workspaceVolumeIssues(doc: Record<string, unknown>, where: (path: DocPath) => string): Issue[] {
  const spec = doc.spec as { volumes?: unknown; provider?: unknown } | undefined;
  if (!isPlainObject(spec)) return [];
  const provider = PROVIDERS.find((p) => p === spec.provider);
  return volumeIssues(spec.volumes, provider).map((v) => {
    const path: DocPath = ['spec', 'volumes', v.index, v.field];
    return { path, part: 'value', message: `${where(path)}: ${v.message}` };
  });
}

// A shared network namespace has no network of its own to join or publish on (docker refuses both).
function networkIssues(doc: Record<string, unknown>, where: (path: DocPath) => string): Issue[] {
  const spec = doc.spec as { network?: unknown; ports?: unknown } | undefined;
  if (!isPlainObject(spec) || !isPlainObject(spec.network) || typeof spec.network.mode !== 'string') return [];
  const issues: Issue[] = [];
  const mode = spec.network.mode;
  for (const field of ['name', 'aliases'] as const) {
    if (spec.network[field] === undefined) continue;
    const path: DocPath = ['spec', 'network', field];
    issues.push({ path, part: 'key', message: `${where(path)} cannot be combined with spec.network.mode ${JSON.stringify(mode)}; remove one of them` });
  }
  if (mode !== 'host' && Array.isArray(spec.ports) && spec.ports.length > 0) {
    const path: DocPath = ['spec', 'ports'];
    issues.push({ path, part: 'key', message: `${where(path)}: a workspace with spec.network.mode ${JSON.stringify(mode)} cannot publish ports${mode.startsWith('service:') ? `; publish them on workspace ${mode.slice(8)}` : ''}` });
  }
  return issues;
}

function explain(errors: ErrorObject[], where: (path: DocPath) => string, doc: Record<string, unknown>): Issue[] {

  // Errors inside a failed anyOf/oneOf branch are noise: the composite's own message replaces them.
  const branchSchemas = new Set<object>();
  for (const e of errors) {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') walkObjects(e.schema as object, (o) => branchSchemas.add(o));
  }

  const issues: Issue[] = [];
  for (const e of errors) {
    const path = instancePath(e.instancePath);
    const def = defOf.get(e.parentSchema as object);
    const value = e.data;
    // Reported by validateDocument itself, or by the wrapping error's more specific children.
    if (e.keyword === 'if' || e.keyword === 'propertyNames') continue;
    if (branchSchemas.has(e.parentSchema as object)) continue;
    if (path.length === 1 && (path[0] === 'apiVersion' || path[0] === 'kind')) continue;
    // Port mappings are explained by parsePortSpec in checks.ts, which also checks ranges.
    if (def === 'portSpec' && e.keyword === 'pattern') continue;

    const push = (p: DocPath, part: PathPart, message: string) => issues.push({ path: p, part, message });
    const params = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'additionalProperties': {
        const field = String(params.additionalProperty);
        const known = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
        const hint = didYouMean(field, known) || (known.length > 0 ? ` (allowed: ${known.join(', ')})` : '');
        push([...path, field], 'key', `unknown field ${quote(field)} in ${where(path)}${hint}`);
        break;
      }
      case 'required': {
        const field = String(params.missingProperty);
        if (path.length === 0 && (field === 'apiVersion' || field === 'kind')) break;
        const provider = (doc.spec as { provider?: unknown } | undefined)?.provider;
        const why = e.schemaPath.includes('/then/') && typeof provider === 'string' ? ` (provider ${provider} needs it)` : '';
        push(path, 'key', `${where(path)} is missing required field ${JSON.stringify(field)}${why}`);
        break;
      }
      case 'pattern': {
        const check = def !== undefined ? FORMAT_CHECKS[def] : undefined;
        if (e.propertyName !== undefined) {
          const what = check ? `is not a valid ${check.thing}: ${check.hint}` : `does not match ${String(params.pattern)}`;
          push([...path, e.propertyName], 'key', `${where(path)}: ${quote(e.propertyName)} ${what}`);
          break;
        }
        const at = path.length === 2 && path[0] === 'metadata' && path[1] === 'name' ? 'metadata.name' : where(path);
        push(path, 'value', `${at} ${formatMessage(String(value), check, String(params.pattern))}`);
        break;
      }
      case 'type': {
        const types = ([] as string[]).concat(params.type as string | string[]);
        const expected =
          def === 'envValue'
            ? 'a string (quote numbers: "3000"), {fromEnv: NAME} or {fromFile: path}'
            : types.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
        push(path, 'value', `${where(path)} must be ${expected}, got ${describeValue(value)}`);
        break;
      }
      case 'enum': {
        const allowed = (params.allowedValues as unknown[]).map(String);
        const hint = typeof value === 'string' ? didYouMean(value, allowed) : '';
        push(path, 'value', `${where(path)} must be one of ${allowed.join(', ')}, got ${describeValue(value)}${hint}`);
        break;
      }
      case 'maxDuration': {
        const max = String(e.schema);
        push(path, 'value', `${where(path)} must be at most ${max}, got ${describeValue(value)}; use a duration up to ${max}`);
        break;
      }
      case 'const':
        push(path, 'value', `${where(path)} must be ${JSON.stringify(params.allowedValue)}, got ${describeValue(value)}`);
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum': {
        const bound = { minimum: 'at least', maximum: 'at most', exclusiveMinimum: 'greater than' }[e.keyword];
        push(path, 'value', `${where(path)} must be ${bound} ${String(params.limit)}, got ${describeValue(value)}`);
        break;
      }
      case 'minLength':
      case 'minItems':
        push(path, 'value', `${where(path)} must not be empty`);
        break;
      case 'minProperties':
      case 'maxProperties':
        push(
          path,
          'value',
          def === 'envValue'
            ? `${where(path)} must be either {fromEnv: NAME} or {fromFile: path}`
            : `${where(path)} ${e.message ?? 'has the wrong number of fields'}`,
        );
        break;
      case 'uniqueItems': {
        const later = Number(params.i);
        const item = Array.isArray(value) ? value[later] : undefined;
        push([...path, later], 'value', `${where(path)} lists ${describeValue(item)} more than once`);
        break;
      }
      case 'anyOf':
      case 'oneOf': {
        const text = def !== undefined ? COMPOSITE_MESSAGES[def] : undefined;
        push(path, 'key', `${where(path)} ${text ?? (e.parentSchema as { description?: string }).description ?? e.message}`);
        break;
      }
      default:
        push(path, 'value', `${where(path)} ${e.message ?? 'is not valid'}`);
    }
  }
  return issues;
}

function formatMessage(value: string, check: (typeof FORMAT_CHECKS)[string] | undefined, pattern: string): string {
  // A long value fails the pattern anyway; the parsers would quote all of it.
  if (check?.parse && value.length <= MAX_QUOTED) {
    try {
      check.parse(value);
    } catch (err) {
      return (err as Error).message;
    }
  }
  if (check) return `${quote(value)} is not a valid ${check.thing}: ${check.hint ?? ''}`;
  return `${quote(value)} does not match ${pattern}`;
}

/** "/spec/env/MY~1VAR" → ["spec", "env", "MY/VAR"]; list indexes become numbers. */
function instancePath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

function walkObjects(value: unknown, visit: (o: object) => void): void {
  if (value === null || typeof value !== 'object') return;
  visit(value);
  for (const child of Object.values(value)) walkObjects(child, visit);
}

/** A DNS-1123 label, as metadata.name and references require. */
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
