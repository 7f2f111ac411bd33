// devcontainer.json → vendetta manifests. Pure: the caller reads the file and hands over its text
// (and, for dockerComposeFile, a compose converter). The spec: https://containers.dev/implementors/json_reference/
//
// Mapping table and the rules for what is warned: docs/devcontainer.md. Keys vendetta cannot honour
// are named together in ONE warning; nothing else is dropped without a word.
import { findNodeAtLocation, parse as parseJsonc, parseTree, printParseErrorCode, type JSONPath, type ParseError } from 'jsonc-parser';
import { createHash } from 'node:crypto';
import { basename, dirname, isAbsolute, posix, relative, resolve } from 'node:path';
import { quoteArg } from '../transport/quote.js';
import { CONTAINER_USER } from '../model/user.js';

export const API_VERSION = 'vendetta.dev/v1alpha1';
/** Where every vendetta container workspace has its source (${containerWorkspaceFolder}). */
export const CONTAINER_WORKSPACE_DIR = '/workspace';

export interface ConvertResult {
  documents: Record<string, unknown>[];
  warnings: string[];
}

/** The compose helper's converter (src/convert/compose.ts), as the devcontainer side calls it. */
export type ComposeConverter = (opts: { files: string[]; services?: string[]; node?: string }) => ConvertResult;

/** src/convert/compose.ts's convertCompose, as far as this side needs it. */
export type ConvertComposeText = (
  text: string,
  opts: { file: string; node?: string; environ?: Record<string, string | undefined> },
) => { documents: object[]; warnings: string[] };

/** The label src/convert/compose.ts puts on each document: which Compose service it comes from. */
export const COMPOSE_SERVICE_LABEL = 'vendetta.dev/compose-service';

const composeServiceOf = (doc: Record<string, unknown>): string | undefined =>
  (doc.metadata as { labels?: Record<string, string> } | undefined)?.labels?.[COMPOSE_SERVICE_LABEL];

/**
 * A ComposeConverter on top of convertCompose: one Compose file (the spec allows a list that
 * Compose merges; vendetta does not merge them), only `services` when given (runServices).
 */
export function composeConverterFrom(convert: ConvertComposeText, readFile: (path: string) => string, environ: Record<string, string | undefined>): ComposeConverter {
  return ({ files, services, node }) => {
    if (files.length !== 1) {
      throw new Error(`${files.length} files are listed: vendetta converts one Compose file; merge them into one`);
    }
    const file = files[0]!;
    const result = convert(readFile(file), { file, node, environ });
    const documents = (result.documents as Record<string, unknown>[]).filter((d) => !services || services.includes(composeServiceOf(d) ?? ''));
    return { documents, warnings: result.warnings };
  };
}

export interface DevcontainerOptions {
  /** Absolute path of the devcontainer.json (errors name it; relative paths start at its folder). */
  file: string;
  /** The project folder (${localWorkspaceFolder}); default: the parent of .devcontainer/, or the file's folder. */
  workspaceFolder?: string;
  /** Where ${localEnv:X} is read. */
  environ: Record<string, string | undefined>;
  /** Name of the Workspace made; default: the project folder's name as a DNS label. */
  name?: string;
  node?: string;
  /** For dockerComposeFile + service. Absent: that form is an error saying so. */
  compose?: ComposeConverter;
}

/** A problem in the devcontainer.json, at a 1-based line:col (0:0 for the whole file). */
export class DevcontainerError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly detail: string,
  ) {
    super(`${file}${line > 0 ? `:${line}:${col}` : ''}: ${detail}`);
    this.name = 'DevcontainerError';
  }
}

/** The keys this converter maps (fully or with a warning about the part it cannot). */
const MAPPED = new Set([
  'name',
  'image',
  'build',
  'dockerFile', // the spec's old top-level form of build.dockerfile
  'context',
  'forwardPorts',
  'appPort',
  'containerEnv',
  'remoteEnv',
  'mounts',
  'workspaceFolder',
  'workspaceMount',
  'remoteUser',
  'containerUser',
  'runArgs',
  'onCreateCommand',
  'postCreateCommand',
  'postStartCommand',
  'postAttachCommand',
  'dockerComposeFile',
  'service',
  'runServices',
  'overrideCommand',
  'shutdownAction',
  'portsAttributes',
  'otherPortsAttributes',
  '$schema',
]); // the last five concern the client or the editor: nothing to do on a node

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** Byte offset → 1-based line and column. */
function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, col: offset - start + 1 };
}

/** JSON with comments and trailing commas, as the spec allows. Throws DevcontainerError at the first problem. */
export function parseDevcontainerText(text: string, file: string): JsonObject {
  const errors: ParseError[] = [];
  const value = parseJsonc(text, errors, { allowTrailingComma: true, disallowComments: false }) as Json;
  if (errors.length > 0) {
    const e = errors[0]!;
    const { line, col } = lineCol(text, e.offset);
    throw new DevcontainerError(file, line, col, `not valid JSON (with comments): ${printParseErrorCode(e.error)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DevcontainerError(file, 0, 0, 'a devcontainer.json must hold one JSON object');
  }
  return value;
}

/** The project folder a devcontainer.json belongs to: the parent of `.devcontainer/`, else the file's folder. */
export function projectFolderOf(file: string): string {
  const dir = dirname(file);
  if (basename(dir) === '.devcontainer') return dirname(dir);
  // .devcontainer/<name>/devcontainer.json (the spec's multi-configuration layout)
  if (basename(dirname(dir)) === '.devcontainer') return dirname(dirname(dir));
  return dir;
}

/** A DNS label (what vendetta names must be) from any folder name. */
export function dnsLabel(text: string): string {
  const label = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .replace(/-{2,}/g, '-')
    .slice(0, 63)
    .replace(/-+$/, '');
  return /^[a-z]/.test(label) ? label : `dc-${label || 'workspace'}`.slice(0, 63).replace(/-+$/, '');
}

interface Vars {
  localWorkspaceFolder: string;
  containerWorkspaceFolder: string;
  devcontainerId: string;
  environ: Record<string, string | undefined>;
  /** containerEnv as far as it is known (for ${containerEnv:X} in remoteEnv and commands). */
  containerEnv?: Record<string, string>;
}

/**
 * Substitutes the spec's ${...} variables in one string. `unknown` collects references that cannot
 * be known before the container exists (${containerEnv:X} of a variable the file does not set);
 * they are left in place.
 */
export function substitute(value: string, vars: Vars, unknown: Set<string> = new Set()): string {
  return value.replace(/\$\{([^}]*)\}/g, (whole, inner: string) => {
    const [kind, ...rest] = inner.split(':');
    switch (kind) {
      case 'localWorkspaceFolder':
        return vars.localWorkspaceFolder;
      case 'localWorkspaceFolderBasename':
        return basename(vars.localWorkspaceFolder);
      case 'containerWorkspaceFolder':
        return vars.containerWorkspaceFolder;
      case 'containerWorkspaceFolderBasename':
        return posix.basename(vars.containerWorkspaceFolder);
      case 'devcontainerId':
        return vars.devcontainerId;
      case 'localEnv':
      case 'env': {
        // ${localEnv:NAME:default}: the default may itself contain ':'
        const [name, ...def] = rest;
        const got = name ? vars.environ[name] : undefined;
        return got ?? def.join(':');
      }
      case 'containerEnv': {
        const [name, ...def] = rest;
        const known = name ? vars.containerEnv?.[name] : undefined;
        if (known !== undefined) return known;
        if (def.length > 0) return def.join(':');
        unknown.add(whole);
        return whole;
      }
      default:
        return whole; // not a devcontainer variable (e.g. a shell ${VAR} in a command): kept as written
    }
  });
}

/** Every string inside a JSON value substituted (keys are left alone). */
function substituteDeep(value: Json, vars: Vars, unknown: Set<string>): Json {
  if (typeof value === 'string') return substitute(value, vars, unknown);
  if (Array.isArray(value)) return value.map((v) => substituteDeep(v, vars, unknown));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, vars, unknown)]));
  }
  return value;
}

/** The spec's ${devcontainerId}: stable for one project folder + config file. */
export function devcontainerIdOf(projectFolder: string, file: string): string {
  return createHash('sha256').update(`${projectFolder}\0${file}`).digest('hex').slice(0, 16);
}

/**
 * A lifecycle command in any of the spec's three forms → shell commands. A string runs in a shell;
 * an array is exec form (each word quoted); an object holds named commands that the spec runs in
 * parallel: here they become one command that starts them all and fails if one does.
 */
export function lifecycleCommands(value: Json | undefined, key: string, problems: string[]): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const one = (v: Json, where: string): string | undefined => {
    if (typeof v === 'string') return v.trim() === '' ? undefined : v;
    if (Array.isArray(v) && v.length > 0 && v.every((w) => typeof w === 'string')) return (v as string[]).map(quoteArg).join(' ');
    problems.push(`${where}: expected a string or a list of strings`);
    return undefined;
  };
  if (typeof value === 'object' && !Array.isArray(value)) {
    const named = Object.entries(value)
      .map(([name, v]) => [name, one(v, `${key}.${name}`)] as const)
      .filter((e): e is readonly [string, string] => e[1] !== undefined);
    if (named.length === 0) return undefined;
    if (named.length === 1) return [named[0]![1]];
    // Parallel, as the spec says; each one's output prefixed by its name, the first failure fails all.
    // `set -o pipefail` is not in every sh: each job records its exit code itself.
    const jobs = named.map(
      ([name, cmd], i) =>
        `( { ${cmd}\n} > "$d/${i}.log" 2>&1; echo $? > "$d/${i}.rc" ) &`,
    );
    const script = [
      'd=$(mktemp -d); pids=""',
      ...jobs.map((j) => `${j} pids="$pids $!"`),
      'wait $pids; rc=0',
      ...named.map(([name], i) => `sed 's/^/[${name.replace(/[^A-Za-z0-9_.-]/g, '_')}] /' "$d/${i}.log"; [ "$(cat "$d/${i}.rc")" = 0 ] || { echo "${key}.${name.replace(/[^A-Za-z0-9_.-]/g, '_')} failed (exit $(cat "$d/${i}.rc"))" >&2; rc=1; }`),
      'rm -rf "$d"; exit $rc',
    ].join('\n');
    return [script];
  }
  const cmd = one(value, key);
  return cmd === undefined ? undefined : [cmd];
}

/** One `mounts` entry, string ("source=x,target=/y,type=volume") or object form. */
function parseMount(entry: Json): { type: string; source?: string; target?: string; raw: string } | undefined {
  if (typeof entry === 'string') {
    const fields: Record<string, string> = {};
    for (const part of entry.split(',')) {
      const eq = part.indexOf('=');
      const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      const v = eq < 0 ? 'true' : part.slice(eq + 1).trim();
      fields[k === 'src' ? 'source' : k === 'dst' || k === 'destination' ? 'target' : k] = v;
    }
    return { type: fields.type ?? 'volume', source: fields.source, target: fields.target, raw: entry };
  }
  if (entry !== null && typeof entry === 'object' && !Array.isArray(entry)) {
    const o = entry as JsonObject;
    const str = (v: Json | undefined) => (typeof v === 'string' ? v : undefined);
    return { type: str(o.type) ?? 'volume', source: str(o.source), target: str(o.target), raw: JSON.stringify(entry) };
  }
  return undefined;
}

/** `appPort` / `forwardPorts` entries and `-p` values → vendetta port specs. */
function portSpec(value: Json, loopback: boolean): string | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 65536) {
    // forwardPorts are reachable from the user's machine only (the spec's default, localhost):
    // published on the node's loopback, which `vendetta port-forward` brings to the laptop.
    return loopback ? `127.0.0.1:${value}:${value}` : String(value);
  }
  if (typeof value === 'string' && /^(\[?[0-9a-fA-F.:]+\]?:)?\d+(:\d+)?(\/(tcp|udp))?$/.test(value)) return value;
  return undefined;
}

/** runArgs flags that take a value as the next word when written without "=". */
const RUNARG_TAKES_VALUE = new Set([
  '-e', '--env', '-p', '--publish', '--name', '--cap-add', '--cap-drop', '--security-opt', '--device', '--network', '--net',
  '-v', '--volume', '--mount', '-u', '--user', '-w', '--workdir', '--hostname', '-h', '--label', '-l', '--add-host',
  '--memory', '-m', '--cpus', '--shm-size', '--ulimit', '--env-file', '--entrypoint', '--platform', '--gpus', '--runtime',
  '--dns', '--ipc', '--pid', '--userns', '--tmpfs', '--sysctl', '--init-path', '--group-add',
]);

interface Converted {
  spec: Record<string, unknown>;
  /** Keys (or key.parts / flags) vendetta cannot honour: named in the one warning. */
  ignored: string[];
  /** Other notes: a value honoured only in part. */
  notes: string[];
}

/**
 * devcontainer.json text → vendetta manifests (a docker Workspace; the compose converter's
 * documents for dockerComposeFile). Throws DevcontainerError for input that cannot be a devcontainer.
 */
export function convertDevcontainer(text: string, opts: DevcontainerOptions): ConvertResult {
  const raw = parseDevcontainerText(text, opts.file);
  const configDir = dirname(opts.file);
  const project = opts.workspaceFolder ?? projectFolderOf(opts.file);
  const name = opts.name ?? dnsLabel(basename(project));
  // Errors point at the key they are about (line:col in the file as written).
  const tree = parseTree(text, [], { allowTrailingComma: true });
  const locate = (path: JSONPath) => {
    const node = path.length > 0 && tree ? findNodeAtLocation(tree, path) : undefined;
    return node ? lineCol(text, node.offset) : { line: 0, col: 0 };
  };
  const fail = (msg: string, path: JSONPath = []): never => {
    const { line, col } = locate(path);
    throw new DevcontainerError(opts.file, line, col, msg);
  };

  // containerWorkspaceFolder is /workspace: that is where vendetta puts the source.
  const baseVars: Vars = {
    localWorkspaceFolder: project,
    containerWorkspaceFolder: CONTAINER_WORKSPACE_DIR,
    devcontainerId: devcontainerIdOf(project, opts.file),
    environ: opts.environ,
  };
  const unknownVars = new Set<string>();
  // containerEnv first: its values may use local variables, and remoteEnv / commands may use it.
  const containerEnvRaw = raw.containerEnv;
  const containerEnv: Record<string, string> = {};
  if (containerEnvRaw !== undefined) {
    if (containerEnvRaw === null || typeof containerEnvRaw !== 'object' || Array.isArray(containerEnvRaw)) fail('containerEnv must be an object of strings', ['containerEnv']);
    for (const [k, v] of Object.entries(containerEnvRaw as JsonObject)) {
      if (typeof v !== 'string') fail(`containerEnv.${k} must be a string`, ['containerEnv', k]);
      containerEnv[k] = substitute(v as string, baseVars, unknownVars);
    }
  }
  const vars: Vars = { ...baseVars, containerEnv };
  const dc = substituteDeep(raw, vars, unknownVars) as JsonObject;

  const out: Converted = { spec: {}, ignored: [], notes: [] };
  // Problems found while mapping: all reported together, located at the first.
  const problems: { message: string; path: JSONPath }[] = [];
  const problem = (message: string, path: JSONPath) => problems.push({ message, path });

  for (const key of Object.keys(dc)) {
    if (!MAPPED.has(key)) out.ignored.push(key);
  }

  // ----- dockerComposeFile + service: the compose converter makes the workspaces -------------
  if (dc.dockerComposeFile !== undefined) {
    return convertComposeForm(dc, opts, configDir, out, fail);
  }

  // ----- what to run ------------------------------------------------------------------------
  const spec = out.spec;
  spec.node = opts.node ?? 'local';
  spec.provider = 'docker';
  const build = dc.build ?? (dc.dockerFile !== undefined ? { dockerfile: dc.dockerFile, context: dc.context ?? '.' } : undefined);
  if (build !== undefined) {
    if (build === null || typeof build !== 'object' || Array.isArray(build)) fail('build must be an object ({"dockerfile": "Dockerfile"})', ['build']);
    const b = build as JsonObject;
    if (typeof b.dockerfile !== 'string') fail('build.dockerfile must be a string: the Dockerfile, relative to the devcontainer.json', dc.build ? ['build'] : ['dockerFile']);
    // Both relative to the devcontainer.json's folder (the spec); vendetta's dockerfile is relative to the context.
    const context = resolve(configDir, typeof b.context === 'string' ? b.context : '.');
    const dockerfile = resolve(configDir, b.dockerfile as string);
    const rel = relative(context, dockerfile);
    const built: Record<string, unknown> = { context, dockerfile: rel.split('\\').join('/') };
    if (rel.startsWith('..') || isAbsolute(rel)) {
      problem(`build.dockerfile ${JSON.stringify(b.dockerfile)} is outside the build context ${context}: move it into the context`, dc.build ? ['build', 'dockerfile'] : ['dockerFile']);
    }
    if (b.args !== undefined) {
      if (b.args === null || typeof b.args !== 'object' || Array.isArray(b.args)) fail('build.args must be an object of strings', ['build', 'args']);
      built.args = Object.fromEntries(Object.entries(b.args as JsonObject).map(([k, v]) => [k, String(v)]));
    }
    if (typeof b.target === 'string') built.target = b.target;
    for (const k of Object.keys(b)) if (!['dockerfile', 'context', 'args', 'target'].includes(k)) out.ignored.push(`build.${k}`);
    spec.build = built;
  }
  if (typeof dc.image === 'string' && spec.build === undefined) spec.image = dc.image;
  else if (typeof dc.image === 'string') out.notes.push(`image ${JSON.stringify(dc.image)} is not used: build makes the image`);
  if (spec.image === undefined && spec.build === undefined) fail('needs "image", "build.dockerfile" or "dockerComposeFile": none is set');
  spec.source = { path: project };

  // ----- env ----------------------------------------------------------------------------------
  const env: Record<string, string> = { ...containerEnv };
  // vendetta has one environment per workspace: remoteEnv (the sessions' and commands' env) joins
  // it and wins on a shared name, as it does in the sessions of a dev container.
  if (dc.remoteEnv !== undefined && dc.remoteEnv !== null) {
    if (typeof dc.remoteEnv !== 'object' || Array.isArray(dc.remoteEnv)) fail('remoteEnv must be an object of strings', ['remoteEnv']);
    for (const [k, v] of Object.entries(dc.remoteEnv as JsonObject)) {
      if (v === null) {
        delete env[k]; // null unsets, per the spec
        continue;
      }
      if (typeof v !== 'string') fail(`remoteEnv.${k} must be a string or null`, ['remoteEnv', k]);
      if ((v as string).includes('${containerEnv:')) {
        out.notes.push(`remoteEnv.${k} uses ${(v as string).match(/\$\{containerEnv:[^}]*\}/)![0]}, which is only known inside the running container: left out; set it in a lifecycle command or the image`);
        continue;
      }
      env[k] = v as string;
    }
  }

  // ----- ports --------------------------------------------------------------------------------
  const ports: string[] = [];
  const addPort = (p: string | undefined, from: string, path: JSONPath) => {
    if (p === undefined) problem(`${from}: not a port (use a number, or "hostPort:containerPort")`, path);
    else if (!ports.includes(p)) ports.push(p);
  };
  for (const [i, p] of asList(dc.forwardPorts).entries()) {
    if (typeof p === 'string' && /^[^:]+:\d+$/.test(p) && !/^\d/.test(p)) {
      out.notes.push(`forwardPorts ${JSON.stringify(p)} names another container: only the dockerComposeFile form has others`);
      continue;
    }
    addPort(portSpec(p, true), `forwardPorts ${JSON.stringify(p)}`, Array.isArray(dc.forwardPorts) ? ['forwardPorts', i] : ['forwardPorts']);
  }
  asList(dc.appPort).forEach((p, i) => addPort(portSpec(p, false), `appPort ${JSON.stringify(p)}`, Array.isArray(dc.appPort) ? ['appPort', i] : ['appPort']));

  // ----- mounts -------------------------------------------------------------------------------
  const volumes: { name: string; path: string }[] = [];
  for (const [i, m] of asList(dc.mounts).entries()) {
    const mount = parseMount(m);
    if (!mount || !mount.target) {
      problem(`mounts entry ${JSON.stringify(m)}: needs a target ("source=NAME,target=/path,type=volume")`, Array.isArray(dc.mounts) ? ['mounts', i] : ['mounts']);
      continue;
    }
    if (mount.type === 'volume' && mount.source) {
      volumes.push({ name: dnsLabel(mount.source), path: mount.target });
    } else if (mount.type === 'volume') {
      // An anonymous volume: data for this container's life, which a vendetta volume outlives.
      volumes.push({ name: dnsLabel(posix.basename(mount.target) || 'data'), path: mount.target });
    } else {
      out.ignored.push(`mounts (${mount.type} ${mount.source ?? ''}:${mount.target})`);
    }
  }

  // ----- workspace folder -----------------------------------------------------------------------
  if (typeof dc.workspaceMount === 'string') {
    const mount = parseMount(dc.workspaceMount);
    if (mount?.source && mount.type === 'bind') spec.source = { path: resolve(project, mount.source) };
    else out.ignored.push('workspaceMount');
  }
  if (typeof dc.workspaceFolder === 'string' && posix.normalize(dc.workspaceFolder) !== CONTAINER_WORKSPACE_DIR) {
    out.notes.push(
      `workspaceFolder ${JSON.stringify(dc.workspaceFolder)}: vendetta puts the source at ${CONTAINER_WORKSPACE_DIR} (and \${containerWorkspaceFolder} is ${CONTAINER_WORKSPACE_DIR}); lifecycle commands run there`,
    );
  }
  mapUsers(dc, spec, out);

  // ----- runArgs: the safe subset ---------------------------------------------------------------
  const runArgs = asList(dc.runArgs).filter((a): a is string => typeof a === 'string');
  for (let i = 0; i < runArgs.length; i++) {
    const word = runArgs[i]!;
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const flag = eq > 0 ? word.slice(0, eq) : /^-[a-z]./.test(word) && !word.startsWith('--') ? word.slice(0, 2) : word;
    let value: string | undefined = eq > 0 ? word.slice(eq + 1) : flag !== word ? word.slice(2) : undefined;
    if (value === undefined && RUNARG_TAKES_VALUE.has(flag)) value = runArgs[++i];
    switch (flag) {
      case '-e':
      case '--env': {
        const at = (value ?? '').indexOf('=');
        if (at > 0) env[value!.slice(0, at)] = value!.slice(at + 1);
        else if (value && opts.environ[value] !== undefined) env[value] = opts.environ[value]!; // docker's "-e NAME": from the caller's env
        else out.ignored.push(`runArgs ${flag} ${value ?? ''}`.trim());
        break;
      }
      case '-p':
      case '--publish':
        addPort(value === undefined ? undefined : portSpec(value, false), `runArgs ${flag} ${value ?? ''}`, ['runArgs']);
        break;
      case '--name':
      case '--rm':
      case '-d':
      case '--detach':
      case '-i':
      case '-t':
      case '-it':
        break; // vendetta names, keeps and runs its containers itself
      default:
        out.ignored.push(`runArgs ${flag}`);
    }
  }

  if (Object.keys(env).length > 0) spec.env = env;
  if (ports.length > 0) spec.ports = ports;
  if (volumes.length > 0) spec.volumes = dedupeVolumes(volumes, out.notes);

  // ----- lifecycle --------------------------------------------------------------------------------
  const lifecycle: Record<string, string[]> = {};
  const hooks = [
    ['onCreateCommand', 'onCreate'],
    ['postCreateCommand', 'postCreate'],
    ['postStartCommand', 'postStart'],
    ['postAttachCommand', 'postAttach'],
  ] as const;
  for (const [key, field] of hooks) {
    const found: string[] = [];
    const cmds = lifecycleCommands(dc[key], key, found);
    for (const message of found) problem(message, [key]);
    if (cmds) lifecycle[field] = cmds;
  }
  if (Object.keys(lifecycle).length > 0) spec.lifecycle = lifecycle;
  // Inside the container its env is the shell's: a lifecycle command reads ${containerEnv:X} as $X.
  for (const cmds of Object.values(lifecycle)) cmds.forEach((c, i) => (cmds[i] = c.replace(/\$\{containerEnv:([A-Za-z_][A-Za-z0-9_]*)\}/g, '${$1}')));
  const { lifecycle: _l, ...rest } = spec;
  for (const v of unknownVars) {
    if (JSON.stringify(rest).includes(JSON.stringify(v).slice(1, -1))) out.notes.push(`${v} is only known inside the running container: left as written`);
  }

  if (problems.length > 0) fail(problems.map((p) => p.message).join('; '), problems[0]!.path);
  const workspace = { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name }, spec };
  return { documents: [workspace], warnings: warningsOf(out) };
}

function asList(value: Json | undefined): Json[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function dedupeVolumes(volumes: { name: string; path: string }[], notes: string[]): { name: string; path: string }[] {
  const seen = new Set<string>();
  return volumes.filter((v) => {
    if (seen.has(v.name)) {
      notes.push(`mounts: volume ${v.name} is mounted twice; kept at its first target only`);
      return false;
    }
    seen.add(v.name);
    return true;
  });
}

/** The ONE warning naming what is not honoured, then the notes on what is honoured in part. */
function warningsOf(out: Converted): string[] {
  const warnings: string[] = [];
  if (out.ignored.length > 0) {
    warnings.push(`devcontainer.json: not supported, ignored: ${[...new Set(out.ignored)].join(', ')}`);
  }
  return [...warnings, ...out.notes.map((n) => `devcontainer.json: ${n}`)];
}

function convertComposeForm(
  dc: JsonObject,
  opts: DevcontainerOptions,
  configDir: string,
  out: Converted,
  fail: (message: string, path?: JSONPath) => never,
): ConvertResult {
  const problems: { message: string; path: JSONPath }[] = [];
  if (typeof dc.service !== 'string') fail('dockerComposeFile needs "service": the compose service that is the dev container', ['dockerComposeFile']);
  if (!opts.compose) {
    // TODO(i12 integration): `vendetta up` passes composeConverterFrom(convertCompose, …) once src/convert/compose.ts has landed.
    fail('dockerComposeFile: this vendetta cannot convert Compose files yet; use "image" or "build" instead', ['dockerComposeFile']);
  }
  const files = asList(dc.dockerComposeFile).map((f) => resolve(configDir, String(f)));
  const runServices = dc.runServices === undefined ? undefined : asList(dc.runServices).map(String);
  const services = runServices ? [...new Set([dc.service as string, ...runServices])] : undefined;
  let composed: ConvertResult;
  try {
    composed = opts.compose({ files, services, node: opts.node });
  } catch (err) {
    if (err instanceof DevcontainerError) throw err;
    return fail(`dockerComposeFile: ${(err as Error).message}`, ['dockerComposeFile']);
  }
  // The service's workspace: by the compose converter's label (its name carries the project's).
  const main = composed.documents.find(
    (d) => d.kind === 'Workspace' && (composeServiceOf(d) === dc.service || (d.metadata as { name?: string } | undefined)?.name === dnsLabel(dc.service as string)),
  ) as { spec: Record<string, unknown> } | undefined;
  if (!main) return fail(`service ${JSON.stringify(dc.service)} is not in ${files.join(', ')}`, ['service']);
  // The devcontainer's own settings apply to the service's workspace.
  const lifecycle: Record<string, string[]> = {};
  for (const [key, field] of [
    ['onCreateCommand', 'onCreate'],
    ['postCreateCommand', 'postCreate'],
    ['postStartCommand', 'postStart'],
    ['postAttachCommand', 'postAttach'],
  ] as const) {
    const found: string[] = [];
    const cmds = lifecycleCommands(dc[key], key, found);
    problems.push(...found.map((message) => ({ message, path: [key] })));
    if (cmds) lifecycle[field] = cmds;
  }
  if (Object.keys(lifecycle).length > 0) main.spec.lifecycle = lifecycle;
  const env = { ...((main.spec.env as Record<string, string>) ?? {}) };
  for (const [k, v] of Object.entries((dc.remoteEnv as JsonObject) ?? {})) if (typeof v === 'string') env[k] = v;
  if (Object.keys(env).length > 0) main.spec.env = env;
  const ports = [...((main.spec.ports as string[]) ?? [])];
  for (const p of asList(dc.forwardPorts)) {
    const spec = portSpec(p, true);
    if (spec && !ports.includes(spec)) ports.push(spec);
  }
  if (ports.length > 0) main.spec.ports = ports;
  mapUsers(dc, main.spec as Record<string, unknown>, out);
  for (const key of ['image', 'build', 'containerEnv', 'mounts', 'runArgs', 'appPort']) {
    if (dc[key] !== undefined) out.ignored.push(`${key} (with dockerComposeFile the compose file says it)`);
  }
  if (problems.length > 0) fail(problems.map((p) => p.message).join('; '), problems[0]!.path);
  return { documents: composed.documents, warnings: [...warningsOf(out), ...composed.warnings] };
}

/**
 * containerUser and remoteUser → spec.user, the container's user, which every session, exec,
 * service and lifecycle command of the workspace runs as (docs/devcontainer.md#users):
 * containerUser when set, else remoteUser. A remoteUser other than containerUser is warned about
 * by name (vendetta has one user per workspace), as is a value that is not a user name or uid.
 */
function mapUsers(dc: JsonObject, spec: Record<string, unknown>, out: { ignored: string[]; notes: string[] }): void {
  const valid = (key: 'containerUser' | 'remoteUser'): string | undefined => {
    const v = dc[key];
    if (v === undefined) return undefined;
    if (typeof v === 'string' && CONTAINER_USER.test(v)) return v;
    out.ignored.push(`${key} (${JSON.stringify(v)}: not a user name, uid or "uid:gid")`);
    return undefined;
  };
  const container = valid('containerUser');
  const remote = valid('remoteUser');
  const user = container ?? remote;
  if (user === undefined) return;
  if (remote !== undefined && remote !== user) out.ignored.push(`remoteUser (${JSON.stringify(remote)}: vendetta runs sessions and lifecycle commands as containerUser ${JSON.stringify(user)})`);
  if (typeof spec.user === 'string' && spec.user !== user) out.notes.push(`user ${JSON.stringify(spec.user)} of the compose service is replaced by ${container !== undefined ? 'containerUser' : 'remoteUser'} ${JSON.stringify(user)}`);
  spec.user = user;
}
