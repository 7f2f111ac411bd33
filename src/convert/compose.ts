// Compose files → vendetta manifests, as kompose does for Kubernetes. Pure: the only I/O is
// reading the env_file files the Compose file names (through opts.readFile). Each Compose service
// becomes one docker Workspace and one Service (the workspace's process); the workspaces of one
// project share a docker network on their node and reach each other by service name.
// The mapping table is docs/compose.md.
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { locator, type DocPath, type Locate } from '../manifest/locate.js';
import type { ManifestError } from '../manifest/errors.js';
import { API_VERSION, LOCAL_NODE, type SourcePos } from '../model/types.js';
import { CONTAINER_USER } from '../model/user.js';

export { isComposeFile } from './detect.js';

export interface ComposeOptions {
  /** The Compose file's path: errors name it, relative paths (build, env_file) start at its directory. */
  file: string;
  /** Node every workspace goes to (default "local"). */
  node?: string;
  /** Project name; default: the file's `name:`, else its directory's name. */
  project?: string;
  /** Reads an env_file (default: the file system). */
  readFile?: (path: string) => string;
  /** Variables for ${VAR} interpolation (default: none, so every ${VAR} falls back to its default). */
  environ?: Record<string, string | undefined>;
}

export interface ComposeResult {
  /** vendetta manifests as plain objects: per service, its Workspace then its Service. */
  documents: object[];
  /** At most one: the unsupported keys of the file, by name. */
  warnings: string[];
  /** Where, in the Compose file, each document comes from (parallel to documents). */
  sources: SourcePos[];
  project: string;
}

/** Bad input: every problem found, each at file:line:col. Nothing is converted. */
export class ComposeError extends Error {
  constructor(readonly errors: ManifestError[]) {
    super(errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.message}`).join('\n'));
    this.name = 'ComposeError';
  }
}

export const LABEL_PROJECT = 'vendetta.dev/compose-project';
export const LABEL_SERVICE = 'vendetta.dev/compose-service';

// Keys honoured (mapped, or meaningless here: `expose` is what the shared network gives anyway).
const SERVICE_KEYS = new Set([
  'image', 'build', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'expose', 'volumes', 'depends_on',
  'healthcheck', 'restart', 'network_mode', 'working_dir', 'pull_policy', 'init', 'cpus', 'mem_limit', 'deploy', 'networks', 'user',
]);
const TOP_KEYS = new Set(['version', 'name', 'services', 'volumes', 'networks']);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A Compose name ("my_app", "Web") as a DNS label part: lowercase, "_" and "." as "-". */
export function dnsName(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** POSIX shell quoting: a word the shell reads back as exactly `word`. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(words: string[]): string {
  return words.map(shellQuote).join(' ');
}

/** Converts one Compose file's text. Throws ComposeError on bad input. */
export function convertCompose(text: string, opts: ComposeOptions): ComposeResult {
  const file = opts.file;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, uniqueKeys: true, prettyErrors: false });
  const errors: ManifestError[] = [];
  for (const e of doc.errors) {
    const pos = lineCounter.linePos(e.pos[0]);
    errors.push({ file, line: pos.line, col: pos.col, message: `invalid YAML: ${e.message.split('\n')[0]}` });
  }
  if (errors.length > 0) throw new ComposeError(errors);
  const at = locator(doc, lineCounter, file);
  const fail = (path: DocPath, message: string, part: 'key' | 'value' = 'value') => errors.push({ ...at(path, part), message });
  const unsupported: string[] = [];
  const warn = (path: DocPath) => unsupported.push(`${path.join('.')} (line ${at(path, 'key').line})`);
  const notes: string[] = [];

  const root = interpolate(doc.toJS({ maxAliasCount: 100 }), opts.environ ?? {}, (path, name) => {
    notes.push(`variable ${name} is not set (${path.join('.')}, line ${at(path).line}): an empty string is used`);
  });
  if (!isObj(root) || !isObj(root.services) || Object.keys(root.services).length === 0) {
    fail([], 'not a Compose file: expected a map with a non-empty "services:" map');
    throw new ComposeError(errors);
  }
  for (const key of Object.keys(root)) if (!TOP_KEYS.has(key) && !key.startsWith('x-')) warn([key]);
  // Declared networks: all services of a project share one network, whatever they declare.
  if (isObj(root.networks)) for (const name of Object.keys(root.networks)) if (name !== 'default') warn(['networks', name]);
  if (isObj(root.volumes)) {
    for (const [name, v] of Object.entries(root.volumes)) {
      if (isObj(v)) for (const key of Object.keys(v)) if (key !== 'name') warn(['volumes', name, key]);
    }
  }

  const projectText = opts.project ?? (typeof root.name === 'string' && root.name !== '' ? root.name : basename(dirname(resolve(file))));
  const project = dnsName(projectText);
  if (!project) fail(root.name !== undefined ? ['name'] : [], `project name ${JSON.stringify(projectText)} has no letters or digits; set "name:" in the Compose file`);
  const node = opts.node ?? LOCAL_NODE;
  const services = root.services as Obj;
  const workspaceOf = (svc: string) => `${project}-${dnsName(svc)}`;

  // Names first: references and the workspace names must hold before anything is mapped.
  const seen = new Map<string, string>();
  for (const svc of Object.keys(services)) {
    const ws = workspaceOf(svc);
    if (!DNS_LABEL.test(ws)) {
      fail(['services', svc], `service ${JSON.stringify(svc)}: its workspace name ${JSON.stringify(ws)} is not a DNS label of at most 63 characters; shorten the project or service name`, 'key');
    } else if (seen.has(ws)) {
      fail(['services', svc], `services ${JSON.stringify(seen.get(ws))} and ${JSON.stringify(svc)} both become workspace ${JSON.stringify(ws)}; rename one`, 'key');
    }
    seen.set(ws, svc);
  }

  // Who uses which named volume: a volume shared by services is not shared here (noted).
  const volumeUsers = new Map<string, string[]>();
  const documents: object[] = [];
  const sources: SourcePos[] = [];
  const deps = new Map<string, string[]>();
  // depends_on service_healthy needs a health check on the other side (Compose refuses it too).
  const healthy = new Set<string>();
  const needsHealthy: { dep: string; path: DocPath }[] = [];

  for (const [svc, raw] of Object.entries(services)) {
    const base = ['services', svc];
    if (!isObj(raw)) {
      fail(base, `service ${JSON.stringify(svc)} must be a map (image:, command:, …), got ${describe(raw)}`);
      continue;
    }
    const s = raw;
    for (const key of Object.keys(s)) if (!SERVICE_KEYS.has(key) && !key.startsWith('x-')) warn([...base, key]);
    const name = workspaceOf(svc);
    const labels = { [LABEL_PROJECT]: project, [LABEL_SERVICE]: svc };
    const wsSpec: Obj = { node, provider: 'docker' };
    const svcSpec: Obj = { workspace: name };

    // image / build
    if (s.build !== undefined) {
      const build = mapBuild(s.build, [...base, 'build'], fail, warn);
      if (build) wsSpec.build = build;
      if (typeof s.image === 'string') notes.push(`service ${svc}: image ${s.image} is built from build: (line ${at([...base, 'build'], 'key').line}); the built image gets vendetta's own tag`);
    } else if (typeof s.image === 'string' && s.image !== '') {
      wsSpec.image = s.image;
    } else {
      fail(base, `service ${JSON.stringify(svc)} has neither image: nor build:; add one`, 'key');
    }
    if (s.pull_policy !== undefined) {
      const pull = { always: 'always', missing: 'missing', if_not_present: 'missing', never: 'never' }[String(s.pull_policy)];
      if (pull && wsSpec.image) wsSpec.pull = pull;
      else if (!pull) warn([...base, 'pull_policy']);
    }

    // user: the container's user (spec.user); a number is a uid. Anything else (a shell word,
    // "${UID}" left empty) is warned about by name, and the image's user stays.
    if (s.user !== undefined) {
      const user = typeof s.user === 'number' && Number.isInteger(s.user) && s.user >= 0 ? String(s.user) : s.user;
      if (typeof user === 'string' && CONTAINER_USER.test(user)) wsSpec.user = user;
      else warn([...base, 'user']);
    }

    // command / entrypoint: no command at all → the image's ENTRYPOINT + CMD (resolved by the docker driver).
    // As Kubernetes (and kompose) do: entrypoint → command, command → args. Without an
    // entrypoint, command is passed to the image's ENTRYPOINT (by the docker driver), as Compose
    // does; strings are split into words as Compose splits them.
    const entrypoint = wordList(s.entrypoint, [...base, 'entrypoint'], fail);
    const args = wordList(s.command, [...base, 'command'], fail);
    if (entrypoint !== undefined && entrypoint.length === 0) {
      // `entrypoint: ""` clears the image's: the command runs by itself.
      if (args !== undefined && args.length > 0) svcSpec.command = shellJoin(args);
    } else {
      if (entrypoint !== undefined) svcSpec.command = shellJoin(entrypoint);
      if (args !== undefined && (args.length > 0 || entrypoint !== undefined)) svcSpec.args = args;
    }
    if (typeof s.working_dir === 'string' && s.working_dir !== '') svcSpec.workdir = s.working_dir;

    // environment: env_file first, environment wins.
    const env: Obj = {};
    if (s.env_file !== undefined) Object.assign(env, envFiles(s.env_file, [...base, 'env_file'], file, opts.readFile ?? ((p) => readFileSync(p, 'utf8')), fail));
    Object.assign(env, environment(s.environment, [...base, 'environment'], fail));
    if (Object.keys(env).length > 0) wsSpec.env = env;

    // ports
    if (s.ports !== undefined) {
      const ports = mapPorts(s.ports, [...base, 'ports'], fail, warn);
      if (ports.length > 0) wsSpec.ports = ports;
    }

    // volumes
    if (s.volumes !== undefined) {
      const volumes = mapVolumes(s.volumes, [...base, 'volumes'], svc, fail, warn, (n) => {
        const users = volumeUsers.get(n) ?? [];
        if (!users.includes(svc)) volumeUsers.set(n, [...users, svc]);
      }, root.volumes);
      if (volumes.length > 0) wsSpec.volumes = volumes;
    }

    // resources
    const resources = mapResources(s, base, warn);
    if (resources) wsSpec.resources = resources;

    // networking
    if (s.network_mode !== undefined) {
      const mode = String(s.network_mode);
      const m = /^service:(.+)$/.exec(mode);
      if (m) {
        if (!(m[1]! in services)) fail([...base, 'network_mode'], `network_mode ${JSON.stringify(mode)}: there is no service ${JSON.stringify(m[1])}${knownList(services)}`);
        else if (m[1] === svc) fail([...base, 'network_mode'], `network_mode ${JSON.stringify(mode)}: a service cannot share its own network`);
        else {
          wsSpec.network = { mode: `service:${workspaceOf(m[1]!)}` };
          (deps.get(svc) ?? deps.set(svc, []).get(svc)!).push(m[1]!);
          if (wsSpec.ports) fail([...base, 'ports'], `service ${JSON.stringify(svc)} publishes ports but shares the network of ${m[1]} (network_mode: ${mode}); publish them on ${m[1]} instead`, 'key');
        }
      } else if (mode === 'host' || mode === 'none') {
        wsSpec.network = { mode };
      } else if (mode !== 'bridge' && mode !== 'default') {
        warn([...base, 'network_mode']);
      }
    }
    if (!wsSpec.network) wsSpec.network = { name: project, aliases: [svc] };
    if (s.networks !== undefined) {
      const nets = Array.isArray(s.networks) ? s.networks : isObj(s.networks) ? Object.keys(s.networks) : [];
      for (const n of nets) if (n !== 'default') warn([...base, 'networks', String(n)]);
    }

    // depends_on
    if (s.depends_on !== undefined) {
      const dependsOn = mapDependsOn(s.depends_on, [...base, 'depends_on'], services, fail, warn, workspaceOf);
      if (dependsOn) {
        svcSpec.dependsOn = dependsOn.map;
        needsHealthy.push(...dependsOn.healthy.map((dep) => ({ dep, path: [...base, 'depends_on', dep] })));
        (deps.get(svc) ?? deps.set(svc, []).get(svc)!).push(...dependsOn.services);
      }
    }

    // healthcheck
    if (s.healthcheck !== undefined) {
      const hc = mapHealthcheck(s.healthcheck, [...base, 'healthcheck'], fail, warn);
      if (hc) {
        svcSpec.healthcheck = hc;
        healthy.add(svc);
      }
    }

    // restart: Compose's default is "no".
    const restart = s.restart === undefined ? 'no' : String(s.restart);
    const policy = restart === 'no' ? 'never' : restart === 'always' || restart === 'unless-stopped' ? 'always' : /^on-failure(:[0-9]+)?$/.test(restart) ? 'on-failure' : undefined;
    if (policy) svcSpec.restart = policy;
    else fail([...base, 'restart'], `restart ${JSON.stringify(restart)} is not one of no, always, on-failure[:N], unless-stopped`);

    const pos = at(base, 'key');
    documents.push({ apiVersion: API_VERSION, kind: 'Workspace', metadata: { name, labels }, spec: wsSpec });
    documents.push({ apiVersion: API_VERSION, kind: 'Service', metadata: { name, labels }, spec: svcSpec });
    sources.push(pos, pos);
  }

  for (const { dep, path } of needsHealthy) {
    if (dep in services && !healthy.has(dep)) fail(path, `depends_on ${dep}: condition service_healthy, but service ${JSON.stringify(dep)} has no healthcheck (with a test); add one, or use service_started`, 'key');
  }
  const cycle = findCycle(deps);
  if (cycle) fail(['services', cycle[0]!], `services depend on each other in a cycle: ${cycle.join(' → ')} (depends_on / network_mode: service:); break the cycle`, 'key');
  if (errors.length > 0) throw new ComposeError(errors);

  for (const [vol, users] of volumeUsers) {
    if (users.length > 1) notes.push(`volume ${vol} is used by services ${users.join(', ')}: each gets its own copy (vendetta volumes belong to one workspace)`);
  }
  const warnings: string[] = [];
  if (unsupported.length > 0 || notes.length > 0) {
    const parts = [];
    if (unsupported.length > 0) parts.push(`unsupported keys, ignored: ${unsupported.join(', ')}`);
    parts.push(...notes);
    warnings.push(`${file}: ${parts.join('; ')}`);
  }
  return { documents, warnings, sources, project };
}

type Fail = (path: DocPath, message: string, part?: 'key' | 'value') => void;
type Warn = (path: DocPath) => void;

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return JSON.stringify(v);
}

function knownList(services: Obj): string {
  return ` (services: ${Object.keys(services).join(', ')})`;
}

/** string (split like a shell, without expansions) or list → words. */
function wordList(v: unknown, path: DocPath, fail: Fail): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v) && v.every((w) => typeof w === 'string' || typeof w === 'number')) return v.map(String);
  if (typeof v !== 'string') {
    fail(path, `must be a string or a list of strings, got ${describe(v)}`);
    return undefined;
  }
  const out: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < v.length) word += v[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < v.length) word = (word ?? '') + v[++i];
    else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (quote) {
    fail(path, `unterminated ${quote} quote`);
    return undefined;
  }
  if (word !== undefined) out.push(word);
  return out;
}

/** ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $VAR and $$ in every string value. */
function interpolate(value: unknown, environ: Record<string, string | undefined>, missing: (path: DocPath, name: string) => void, path: (string | number)[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, braced?: string, op?: string, arg?: string, bare?: string) => {
      if (whole === '$$') return '$';
      const name = (braced ?? bare)!;
      const v = environ[name];
      const unsetOrEmpty = v === undefined || (op?.startsWith(':') && v === '');
      if (op === ':-' || op === '-') return unsetOrEmpty ? (arg ?? '') : v!;
      if (op === ':+' || op === '+') return unsetOrEmpty ? '' : (arg ?? '');
      if (op === ':?' || op === '?') {
        if (unsetOrEmpty) missing(path, `${name} (required: ${arg})`);
        return v ?? '';
      }
      if (v === undefined) missing(path, name);
      return v ?? '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, environ, missing, [...path, i]));
  if (isObj(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, environ, missing, [...path, k])]));
  return value;
}

function mapBuild(v: unknown, path: DocPath, fail: Fail, warn: Warn): Obj | undefined {
  if (typeof v === 'string') return { context: v };
  if (!isObj(v)) {
    fail(path, `build must be a path or a map (context, dockerfile, args, target), got ${describe(v)}`);
    return undefined;
  }
  const out: Obj = { context: typeof v.context === 'string' && v.context !== '' ? v.context : '.' };
  if (typeof v.dockerfile === 'string') out.dockerfile = v.dockerfile;
  if (typeof v.target === 'string') out.target = v.target;
  if (v.args !== undefined) {
    const args = environment(v.args, [...path, 'args'], fail);
    const plain: Record<string, string> = {};
    for (const [k, a] of Object.entries(args)) {
      if (typeof a === 'string') plain[k] = a;
      // A bare "ARG" takes its value from the environment in Compose: not a build argument here.
      else warn([...path, 'args', k]);
    }
    if (Object.keys(plain).length > 0) out.args = plain;
  }
  for (const key of Object.keys(v)) if (!['context', 'dockerfile', 'target', 'args'].includes(key)) warn([...path, key]);
  return out;
}

/** environment (map or KEY=VALUE list); a key without a value comes from the applying machine. */
function environment(v: unknown, path: DocPath, fail: Fail): Obj {
  const out: Obj = {};
  const put = (key: string, value: unknown, at: DocPath) => {
    if (!ENV_NAME.test(key)) {
      fail(at, `variable name ${JSON.stringify(key)} is not usable: use letters, digits and "_", not starting with a digit`, 'key');
      return;
    }
    if (value === null || value === undefined) out[key] = { fromEnv: key };
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
    else fail(at, `value of ${key} must be a string, got ${describe(value)}`);
  };
  if (isObj(v)) for (const [k, value] of Object.entries(v)) put(k, value, [...path, k]);
  else if (Array.isArray(v)) {
    v.forEach((item, i) => {
      if (typeof item !== 'string') return fail([...path, i], `must be "KEY=VALUE", got ${describe(item)}`);
      const eq = item.indexOf('=');
      put(eq < 0 ? item : item.slice(0, eq), eq < 0 ? null : item.slice(eq + 1), [...path, i]);
    });
  } else if (v !== undefined && v !== null) fail(path, `must be a map or a list of "KEY=VALUE", got ${describe(v)}`);
  return out;
}

/** env_file: a path, a list of paths, or {path, required}; KEY=VALUE lines, # comments, optional quotes. */
function envFiles(v: unknown, path: DocPath, composeFile: string, read: (p: string) => string, fail: Fail): Obj {
  const out: Obj = {};
  const list = Array.isArray(v) ? v : [v];
  list.forEach((entry, i) => {
    const at = Array.isArray(v) ? [...path, i] : path;
    const p = typeof entry === 'string' ? entry : isObj(entry) && typeof entry.path === 'string' ? entry.path : undefined;
    if (p === undefined) return fail(at, `env_file must be a path, got ${describe(entry)}`);
    const required = !(isObj(entry) && entry.required === false);
    const full = resolve(dirname(composeFile), p);
    let text: string;
    try {
      text = read(full);
    } catch (err) {
      if (required) fail(at, `env_file ${JSON.stringify(p)} cannot be read (${full}): ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    text.split(/\r?\n/).forEach((line, n) => {
      const t = line.trim();
      if (t === '' || t.startsWith('#')) return;
      const m = /^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$/.exec(t);
      if (!m || !ENV_NAME.test(m[1]!)) return fail(at, `env_file ${p} line ${n + 1}: expected KEY=VALUE, got ${JSON.stringify(t.slice(0, 80))}`);
      let value = m[2]!;
      const q = value[0];
      if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) value = value.slice(1, -1);
      else value = value.replace(/\s+#.*$/, '');
      out[m[1]!] = value;
    });
  });
  return out;
}

function mapPorts(v: unknown, path: DocPath, fail: Fail, warn: Warn): string[] {
  if (!Array.isArray(v)) {
    fail(path, `ports must be a list, got ${describe(v)}`);
    return [];
  }
  const out: string[] = [];
  v.forEach((p, i) => {
    if (typeof p === 'number') return void out.push(String(p));
    if (typeof p === 'string') {
      // Ranges ("8000-8010:8000-8010") have no vendetta form.
      if (/[0-9]-[0-9]/.test(p.replace(/^\[[^\]]*\]/, ''))) return warn([...path, i]);
      return void out.push(p);
    }
    if (isObj(p) && (typeof p.target === 'number' || typeof p.target === 'string')) {
      const proto = p.protocol === 'udp' ? '/udp' : '';
      const published = p.published ?? p.target;
      const ip = typeof p.host_ip === 'string' && p.host_ip !== '' ? (p.host_ip.includes(':') ? `[${p.host_ip}]:` : `${p.host_ip}:`) : '';
      return void out.push(`${ip}${published}:${p.target}${proto}`);
    }
    fail([...path, i], `a port must be "[ip:]host:container[/proto]" or a map with target:, got ${describe(p)}`);
  });
  return out;
}

function mapVolumes(v: unknown, path: DocPath, svc: string, fail: Fail, warn: Warn, used: (name: string) => void, declared: unknown): Obj[] {
  if (!Array.isArray(v)) {
    fail(path, `volumes must be a list, got ${describe(v)}`);
    return [];
  }
  const out: Obj[] = [];
  v.forEach((entry, i) => {
    const at = [...path, i];
    let type: string, source: string | undefined, target: string | undefined, readOnly = false;
    if (typeof entry === 'string') {
      const parts = entry.split(':');
      // "/path" alone: an anonymous volume; "src:/path[:mode]".
      if (parts.length === 1) [type, source, target] = ['volume', undefined, parts[0]];
      else {
        source = parts[0]!;
        target = parts[1];
        readOnly = (parts[2] ?? '').split(',').includes('ro');
        type = /^[./~]/.test(source) || source.startsWith('$') ? 'bind' : 'volume';
      }
    } else if (isObj(entry)) {
      type = String(entry.type ?? 'volume');
      source = typeof entry.source === 'string' ? entry.source : undefined;
      target = typeof entry.target === 'string' ? entry.target : undefined;
      readOnly = entry.read_only === true;
    } else {
      return fail(at, `a volume must be "source:target[:ro]" or a map, got ${describe(entry)}`);
    }
    if (!target) return fail(at, 'the volume has no target path inside the container');
    if (type === 'bind') {
      return fail(
        at,
        `service ${svc}: bind mount ${JSON.stringify(source)} → ${target} is not supported (the workspace runs on a node, whose files are not this machine's); ` +
          'use a named volume ("data:' + target + '") for data, or source.path in the converted Workspace for code',
      );
    }
    if (type !== 'volume') return warn(at);
    if (source === undefined) return warn(at); // anonymous: Compose drops it with the container too
    const name = dnsName(source);
    if (!DNS_LABEL.test(name)) return fail(at, `volume name ${JSON.stringify(source)} does not make a DNS label; rename it`);
    if (isObj(declared) && !(source in declared)) fail(at, `volume ${JSON.stringify(source)} is not declared in the top-level volumes:; declare it there`);
    if (readOnly) warn([...at]);
    used(source);
    out.push({ name, path: target });
  });
  return out;
}

function mapResources(s: Obj, base: DocPath, warn: Warn): Obj | undefined {
  const out: Obj = {};
  const limits = isObj(s.deploy) && isObj(s.deploy.resources) && isObj(s.deploy.resources.limits) ? s.deploy.resources.limits : {};
  const cpus = s.cpus ?? limits.cpus;
  if (cpus !== undefined && Number(cpus) > 0) out.cpus = Number(cpus);
  const mem = s.mem_limit ?? limits.memory;
  if (mem !== undefined) {
    const m = /^([0-9.]+)\s*([kmgt]?)i?b?$/i.exec(String(mem));
    if (m) out.memory = m[2] ? `${m[1]}${m[2].toUpperCase()}i` : m[1];
    else warn(s.mem_limit !== undefined ? [...base, 'mem_limit'] : [...base, 'deploy', 'resources', 'limits', 'memory']);
  }
  if (isObj(s.deploy)) {
    for (const key of Object.keys(s.deploy)) if (key !== 'resources') warn([...base, 'deploy', key]);
    if (isObj(s.deploy.resources)) for (const key of Object.keys(s.deploy.resources)) if (key !== 'limits') warn([...base, 'deploy', 'resources', key]);
    for (const key of Object.keys(limits)) if (key !== 'cpus' && key !== 'memory') warn([...base, 'deploy', 'resources', 'limits', key]);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

const CONDITIONS: Record<string, string> = { service_started: 'started', service_healthy: 'healthy', service_completed_successfully: 'completed' };

function mapDependsOn(v: unknown, path: DocPath, services: Obj, fail: Fail, warn: Warn, workspaceOf: (s: string) => string): { map: Obj; services: string[]; healthy: string[] } | undefined {
  const out: Obj = {};
  const names: string[] = [];
  const healthy: string[] = [];
  const add = (dep: string, condition: string, at: DocPath) => {
    if (!(dep in services)) return fail(at, `depends_on: there is no service ${JSON.stringify(dep)}${knownList(services)}`, 'key');
    out[workspaceOf(dep)] = { condition };
    names.push(dep);
  };
  if (Array.isArray(v)) v.forEach((dep, i) => add(String(dep), 'started', [...path, i]));
  else if (isObj(v)) {
    for (const [dep, opt] of Object.entries(v)) {
      const cond = isObj(opt) && opt.condition !== undefined ? String(opt.condition) : 'service_started';
      if (!(cond in CONDITIONS)) {
        fail([...path, dep, 'condition'], `condition ${JSON.stringify(cond)} is not one of ${Object.keys(CONDITIONS).join(', ')}`);
        continue;
      }
      if (isObj(opt)) for (const key of Object.keys(opt)) if (key !== 'condition' && key !== 'required') warn([...path, dep, key]);
      add(dep, CONDITIONS[cond]!, [...path, dep]);
      if (cond === 'service_healthy') healthy.push(dep);
    }
  } else {
    fail(path, `depends_on must be a list or a map, got ${describe(v)}`);
    return undefined;
  }
  return { map: out, services: names, healthy };
}

/** Compose duration ("1m30s", "10s", "1.5s", "100ms") as vendetta's; undefined when it has no form. */
function duration(v: unknown): string | undefined {
  const text = String(v);
  return /^([0-9]+(\.[0-9]+)?(ms|h|m|s))+$/.test(text) ? text : undefined;
}

function mapHealthcheck(v: unknown, path: DocPath, fail: Fail, warn: Warn): Obj | undefined {
  if (!isObj(v)) {
    fail(path, `healthcheck must be a map (test, interval, timeout, retries, start_period), got ${describe(v)}`);
    return undefined;
  }
  if (v.disable === true) return undefined;
  const test = v.test;
  let command: string | undefined;
  if (typeof test === 'string') command = test;
  else if (Array.isArray(test) && test.length > 0) {
    const [kind, ...rest] = test.map(String);
    if (kind === 'NONE') return undefined;
    if (kind === 'CMD') command = shellJoin(rest);
    else if (kind === 'CMD-SHELL') command = rest.join(' ');
    else fail([...path, 'test', 0], `test must start with CMD, CMD-SHELL or NONE, got ${JSON.stringify(kind)}`);
  } else if (test === undefined) {
    // Compose then uses the image's HEALTHCHECK, which vendetta does not read.
    warn(path);
    return undefined;
  } else fail([...path, 'test'], `test must be a string or a list, got ${describe(test)}`);
  if (!command) return undefined;
  const out: Obj = { exec: { command } };
  for (const [key, to] of [['interval', 'interval'], ['timeout', 'timeout'], ['start_period', 'startPeriod']] as const) {
    if (v[key] === undefined) continue;
    const d = duration(v[key]);
    if (d) out[to] = d;
    else fail([...path, key], `${key} ${JSON.stringify(v[key])} is not a duration like "10s", "1m30s" or "500ms"`);
  }
  if (v.retries !== undefined) {
    const r = Number(v.retries);
    if (Number.isInteger(r) && r >= 1) out.retries = r;
    else fail([...path, 'retries'], `retries must be a whole number of at least 1, got ${describe(v.retries)}`);
  }
  for (const key of Object.keys(v)) if (!['test', 'interval', 'timeout', 'start_period', 'retries', 'disable'].includes(key)) warn([...path, key]);
  return out;
}

/** A cycle among service → services it needs (depends_on, network_mode), as a path; none: undefined. */
function findCycle(deps: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'visiting') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'visiting');
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of [...deps.keys()].sort()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

/** Where document `i` came from, as a locator the manifest loader can use. */
export function composeLocator(pos: SourcePos): Locate {
  return () => pos;
}

/** The keys a service may have without a warning (docs/compose.md lists them). */
export const SUPPORTED_SERVICE_KEYS: ReadonlySet<string> = SERVICE_KEYS;
