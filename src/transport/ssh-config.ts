// ~/.ssh/config for nodes: which host, port, user, identity files and jump hosts a node's address
// stands for. Pure: the file reads come in through SshConfigSource, so fixtures can stand in.
//
// Precedence, as OpenSSH: explicit Node spec fields > the config (first obtained value wins) >
// defaults (port 22, the local user). Parsing and Host/Match evaluation are the `ssh-config`
// package's; it does not follow `Include`, so includes are spliced in here.
import SSHConfig, { LineType, type Directive, type Line, type Section } from 'ssh-config';

/** The file access the resolver needs (fs in ssh.ts, a map in tests). */
export interface SshConfigSource {
  /** The main config file, e.g. ~/.ssh/config. */
  path: string;
  /** Where relative Include paths start: ~/.ssh, as OpenSSH (even for a config elsewhere). */
  includeDir: string;
  /** A file's text, or undefined when it does not exist. */
  read(path: string): string | undefined;
  /** Existing files matching an absolute glob pattern (`*`, `?`), sorted. */
  glob(pattern: string): string[];
  home: string;
  localUser: string;
}

/** One SSH server on the way: a jump host or the node itself. */
export interface SshHop {
  /** The name asked for (a Host alias or an address), for messages. */
  name: string;
  host: string;
  port: number;
  user: string;
  /** Identity files to try, in order (tilde-expanded); empty = the agent and the default keys. */
  identityFiles: string[];
  /**
   * The config's ForwardAgent for this host, when it sets one: `yes` is true, `no` false. A socket
   * path or `$VAR` (OpenSSH 8.2+) is read as false: vendetta forwards only SSH_AUTH_SOCK's agent.
   */
  forwardAgent?: boolean;
}

export interface SshRoute {
  /** Jump hosts in connection order: the first is dialled directly, each next one through the previous. */
  jumps: SshHop[];
  target: SshHop;
}

export class SshConfigError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'SshConfigError';
  }
}

/** OpenSSH's limit on nested Include. */
export const MAX_INCLUDE_DEPTH = 16;
/** Jump hosts on one route; more is almost surely a ProxyJump loop. */
export const MAX_JUMPS = 8;

const where = (o: { file: string; line: number }) => `${o.file}:${o.line}`;

/** A parsed file plus where each directive came from (the package keeps no line numbers). */
interface ParsedFile {
  file: string;
  config: SSHConfig;
  origin: WeakMap<Line, { file: string; line: number }>;
}

function parseFile(file: string, text: string): ParsedFile {
  let config: SSHConfig;
  try {
    config = SSHConfig.parse(text);
  } catch (err) {
    // The parser says what but not where: the first line that fails alone is the culprit.
    const lines = text.split('\n');
    const bad = lines.findIndex((l) => {
      try {
        SSHConfig.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    const at = bad >= 0 ? `${file}:${bad + 1}` : file;
    throw new SshConfigError(
      `cannot parse ssh config ${at}: ${(err as Error).message}${bad >= 0 ? ` (line: ${lines[bad]!.trim()})` : ''}`,
      `fix that line (ssh -G <host> -F ${file} shows what OpenSSH makes of it)`,
    );
  }
  // Line numbers: count the line breaks kept in each line's before/after, in file order.
  const origin = new WeakMap<Line, { file: string; line: number }>();
  let n = 1;
  const walk = (lines: Line[]) => {
    for (const l of lines) {
      n += (l.before.match(/\n/g) ?? []).length;
      origin.set(l, { file, line: n });
      n += (l.after.match(/\n/g) ?? []).length;
      if ('config' in l) walk(l.config);
    }
  };
  walk(config);
  return { file, config, origin };
}

function values(d: Directive): string[] {
  return typeof d.value === 'string' ? [d.value] : d.value.map((v) => v.val);
}

const isSection = (l: Line): l is Section => l.type === LineType.DIRECTIVE && 'config' in l;
const isInclude = (l: Line): boolean => l.type === LineType.DIRECTIVE && /^include$/i.test(l.param);

/** ~/.ssh/config, with its Includes, evaluated for one host at a time. */
export class SshConfig {
  private readonly files = new Map<string, ParsedFile | undefined>();
  private readonly origins: ParsedFile['origin'][] = [];

  constructor(private readonly source: SshConfigSource) {}

  private load(file: string): ParsedFile | undefined {
    if (!this.files.has(file)) {
      const text = this.source.read(file);
      const parsed = text === undefined ? undefined : parseFile(file, text);
      if (parsed) this.origins.push(parsed.origin);
      this.files.set(file, parsed);
    }
    return this.files.get(file);
  }

  /** Where a directive was written, for messages. */
  originOf(l: Line): { file: string; line: number } | undefined {
    for (const o of this.origins) {
      const at = o.get(l);
      if (at) return at;
    }
    return undefined;
  }

  /** Files an Include names, globbed; relative paths start in ~/.ssh. */
  private includeTargets(d: Directive): string[] {
    return values(d).flatMap((p) => {
      const abs = p.startsWith('~/') ? `${this.source.home}${p.slice(1)}` : p.startsWith('/') ? p : `${this.source.includeDir}/${p}`;
      return /[*?[]/.test(abs) ? this.source.glob(abs) : [abs];
    });
  }

  /** Whether a Host/Match section applies to `host`, by the package's own matching. */
  private sectionMatches(section: Section, host: string): boolean {
    const probe = SSHConfig.parse('X-Vendetta-Probe yes');
    const one = SSHConfig.parse('');
    one.push({ ...section, config: probe });
    return 'x-vendetta-probe' in one.compute(host, { ignoreCase: true, matchExec: false });
  }

  /**
   * The top-level lines of `file` with every Include replaced by the included files' lines, for
   * `host`. As in OpenSSH, an Include inside a Host/Match block is read only when that block
   * applies, and the block goes on after it (its header is repeated so later lines keep their condition).
   */
  private expand(file: string, host: string, depth: number, from?: { file: string; line: number }): Line[] {
    if (depth > MAX_INCLUDE_DEPTH) {
      throw new SshConfigError(
        `ssh config Includes are nested deeper than ${MAX_INCLUDE_DEPTH} at ${from ? where(from) : file} (an Include loop?)`,
        'make the Include chain end',
      );
    }
    const parsed = this.load(file);
    if (!parsed) return [];
    const out: Line[] = [];
    const included = (d: Directive) =>
      this.includeTargets(d).flatMap((f) => this.expand(f, host, depth + 1, parsed.origin.get(d)));
    for (const line of parsed.config) {
      if (isInclude(line)) {
        out.push(...included(line as Directive));
      } else if (isSection(line)) {
        const open = () => {
          const s: Section = { ...line, config: SSHConfig.parse('') };
          out.push(s);
          return s;
        };
        let current = open();
        const active = this.sectionMatches(line, host);
        for (const sub of line.config) {
          if (!isInclude(sub)) {
            current.config.push(sub);
            continue;
          }
          if (!active) continue;
          const lines = included(sub as Directive);
          const firstSection = lines.findIndex(isSection);
          const head = firstSection < 0 ? lines : lines.slice(0, firstSection);
          current.config.push(...head);
          if (firstSection >= 0) {
            out.push(...lines.slice(firstSection));
            current = open();
          }
        }
      } else {
        out.push(line);
      }
    }
    return out;
  }

  /** Every option the config sets for `host` (lower-case names; IdentityFile is a list). */
  compute(host: string): { options: Record<string, string | string[]>; lines: Line[] } {
    const lines = this.expand(this.source.path, host, 0);
    const all = SSHConfig.parse('');
    all.push(...lines);
    // matchExec off: resolving a node must not run commands from a config file.
    return { options: all.compute(host, { ignoreCase: true, matchExec: false }), lines };
  }
}

/** `[user@]host[:port]`, `[user@][v6addr]:port` or `ssh://[user@]host[:port]`, as ProxyJump takes. */
export function parseJumpSpec(spec: string): { user?: string; host: string; port?: number } {
  let s = spec.trim().replace(/^ssh:\/\//, '');
  let user: string | undefined;
  const at = s.lastIndexOf('@');
  if (at >= 0) {
    user = s.slice(0, at);
    s = s.slice(at + 1);
  }
  let host = s;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
  } else if (s.split(':').length === 2) {
    [host, portText] = s.split(':') as [string, string];
  }
  const port = portText === undefined ? undefined : Number(portText);
  if (!host || (user !== undefined && !user) || (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))) {
    throw new SshConfigError(`invalid ProxyJump hop "${spec}"`, 'write each hop as [user@]host[:port], hops separated by commas');
  }
  return { ...(user ? { user } : {}), host, ...(port ? { port } : {}) };
}

/** OpenSSH's % tokens that make sense here; %% is a literal %. */
function expandTokens(value: string, tokens: Record<string, string>): string {
  return value.replace(/%(.)/g, (m, c: string) => (c === '%' ? '%' : (tokens[c] ?? m)));
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export interface ExplicitHop {
  /** The address, used as a Host alias. */
  address: string;
  port?: number;
  user?: string;
  identityFile?: string;
}

/**
 * How to reach `explicit.address`: its own settings and the jump hosts before it. Each jump host
 * is itself looked up in the config (its own HostName, User, Port, IdentityFile, and ProxyJump for
 * the first hop), as `ssh -J` does.
 */
export function resolveRoute(config: SshConfig, explicit: ExplicitHop, source: Pick<SshConfigSource, 'home' | 'localUser'>): SshRoute {
  const chain = resolveChain(config, explicit, undefined, source, 0);
  return { jumps: chain.slice(0, -1), target: chain[chain.length - 1]! };
}

function resolveChain(
  config: SshConfig,
  explicit: ExplicitHop,
  jumpsOverride: string[] | undefined,
  source: Pick<SshConfigSource, 'home' | 'localUser'>,
  depth: number,
): SshHop[] {
  const name = explicit.address;
  const { options, lines } = config.compute(name);
  // where the value that won was written (the first such directive), for messages
  const at = (param: string) => {
    const value = first(options[param]);
    const d = lines
      .flatMap((l) => (isSection(l) ? [l, ...l.config] : [l]))
      .find((l) => l.type === LineType.DIRECTIVE && l.param.toLowerCase() === param && values(l).join(' ') === value);
    const o = d && config.originOf(d);
    return o ? ` (${where(o)})` : '';
  };
  const host = expandTokens(first(options.hostname) ?? name, { h: name });
  let port = explicit.port;
  if (port === undefined && options.port !== undefined) {
    const p = Number(first(options.port));
    if (!(Number.isInteger(p) && p > 0 && p < 65536)) {
      throw new SshConfigError(`ssh config gives Host ${name} the invalid Port "${first(options.port)}"${at('port')}`, 'set a port number from 1 to 65535');
    }
    port = p;
  }
  port ??= 22;
  const user = explicit.user ?? first(options.user) ?? source.localUser;
  const tokens = { h: host, p: String(port), r: user, u: source.localUser, d: source.home };
  const fromConfig = ([] as string[]).concat(options.identityfile ?? []).filter((f) => f.toLowerCase() !== 'none');
  const identityFiles = explicit.identityFile
    ? [explicit.identityFile]
    : fromConfig.map((f) => {
        const e = expandTokens(f, tokens);
        return e === '~' || e.startsWith('~/') ? `${source.home}${e.slice(1)}` : e;
      });
  const hop: SshHop = { name, host, port, user, identityFiles };
  const fa = first(options.forwardagent)?.toLowerCase();
  if (fa !== undefined) hop.forwardAgent = fa === 'yes' || fa === 'true';

  let jumps = jumpsOverride;
  if (jumps === undefined) {
    const pj = first(options.proxyjump);
    const pc = first(options.proxycommand);
    if (pj !== undefined && pj.toLowerCase() !== 'none') jumps = pj.split(',').map((s) => s.trim()).filter(Boolean);
    else if (pj === undefined && pc !== undefined && pc.toLowerCase() !== 'none') {
      throw new SshConfigError(
        `ssh config gives Host ${name} a ProxyCommand${at('proxycommand')}, which vendetta does not run`,
        `use ProxyJump for jump hosts, or add "ProxyCommand none" in a Host block for ${name} above it`,
      );
    }
  }
  if (!jumps || jumps.length === 0) return [hop];
  if (depth + jumps.length > MAX_JUMPS) {
    throw new SshConfigError(
      `the ProxyJump route to ${name} has more than ${MAX_JUMPS} jump hosts${at('proxyjump')} (a ProxyJump loop?)`,
      'check the ProxyJump lines of the hosts on that route',
    );
  }
  // As `ssh -J a,b host`: the last hop is reached through the ones before it, and only the first
  // hop's own ProxyJump from the config applies.
  const last = parseJumpSpec(jumps[jumps.length - 1]!);
  const before = jumps.slice(0, -1);
  const lastExplicit: ExplicitHop = { address: last.host, ...(last.port ? { port: last.port } : {}), ...(last.user ? { user: last.user } : {}) };
  return [...resolveChain(config, lastExplicit, before.length ? before : undefined, source, depth + 1), hop];
}

/** "user@host:port", or with the alias when it differs: "bastion (user@10.0.0.1:22)". */
export function describeHop(hop: SshHop): string {
  const addr = `${hop.user}@${hop.host}:${hop.port}`;
  return hop.name === hop.host ? addr : `${hop.name} (${addr})`;
}
