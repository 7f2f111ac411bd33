// The process provider: a workspace is a directory on the node and its services are plain
// supervised processes. Layout under the root:
//   <root>/<name>/meta.json    our labels (managed, kind, name, specHash, applySet, owner, running,
//                              createdAt). Written last: it is the completion marker.
//   <root>/<name>/workspace/   the source, or an empty directory
//   <root>/<name>/state/       supervisor state (src/services)
//   <root>/.volumes/<name>/<volume>/   a volume: outside <root>/<name>, which a recreate replaces;
//                              <name>/workspace/<path> is a symlink to it. (Workspace names are
//                              DNS labels: ".volumes" is never one, and `*` never lists it.)
import { posix } from 'node:path';
import { LOCAL_ADDRESS, LOCAL_NODE, type NodeResource, type ObservedWorkspace, type Owner, type VolumeSpec } from '../../model/types.js';
import { volumeMountPath } from '../../model/volumes.js';
import { nodeAgentPrefix } from '../../services/node-agent.js';
import { DEFAULT_PATH, ENV_KEY, nodeStatusArgv, serviceDir, parseNodeStatus, parseServiceStatus, SERVICE_SHELL_LIB, stopAllServicesArgv } from '../../services/supervisor.js';
import { INLINE_SHELL } from '../../transport/batch.js';
import type { ExecResult } from '../../transport/types.js';
import { fetchGitTree } from '../git-source.js';
import { listVolumesArgv, parseVolumeList } from '../volume-dirs.js';
import { sourceDirOf, type DesiredWorkspace, type DriverContext, type ProviderDriver, type WorkspaceRuntime } from '../types.js';

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const ADDRESS = '127.0.0.1';

export interface ProcessMeta {
  managed: true;
  kind: 'Workspace';
  name: string;
  specHash: string;
  /** Spec hash without env: an env change alone is an update in place (see update()). */
  shapeHash?: string;
  applySet: string;
  /** The store that made it; absent in metadata written before ownership. */
  owner?: Owner;
  running: boolean;
  createdAt: string;
  /** The commit source.git resolved to when it was made. */
  gitCommit?: string;
}

export interface WorkspacePaths {
  dir: string;
  meta: string;
  workspaceDir: string;
  stateDir: string;
}

/** Where workspaces live on this node. Pure: the caller supplies home and VENDETTA_HOME. */
export function processRoot(node: NodeResource, home: string, vendettaHome: string | undefined): string {
  const configured = node.spec.providers?.process?.root;
  if (configured) {
    if (configured === '~') return home;
    return configured.startsWith('~/') ? posix.join(home, configured.slice(2)) : configured;
  }
  const isLocal = node.metadata.name === LOCAL_NODE || node.spec.address === LOCAL_ADDRESS;
  if (isLocal && vendettaHome) return posix.join(vendettaHome, 'workspaces');
  return posix.join(home, '.vendetta', 'workspaces');
}

/** Paths of one workspace; refuses names that could escape the root. */
export function workspacePaths(root: string, name: string): WorkspacePaths {
  if (!NAME.test(name)) {
    throw new Error(`invalid workspace name ${JSON.stringify(name)}: use a DNS-1123 label (lowercase letters, digits, '-')`);
  }
  const base = posix.normalize(root).replace(/\/+$/, '');
  const dir = posix.join(base, name);
  if (!base || posix.dirname(dir) !== base) throw new Error(`workspace ${name} would not be inside ${root}`);
  return {
    dir,
    meta: `${dir}/meta.json`,
    workspaceDir: `${dir}/workspace`,
    stateDir: `${dir}/state`,
  };
}

/** The node directory of one volume: outside the workspace's own directory, which a recreate replaces. */
export function volumeDir(root: string, workspace: string, volume: string): string {
  for (const n of [workspace, volume]) {
    if (!NAME.test(n)) throw new Error(`invalid name ${JSON.stringify(n)}: use a DNS-1123 label (lowercase letters, digits, '-')`);
  }
  return posix.join(posix.normalize(root).replace(/\/+$/, ''), '.volumes', workspace, volume);
}

/** Each volume's node directory and the link to it inside the workspace directory. */
export function volumeLinks(root: string, workspace: string, volumes: VolumeSpec[] | undefined): { dir: string; link: string }[] {
  const { workspaceDir } = workspacePaths(root, workspace);
  return (volumes ?? []).map((v) => {
    const link = volumeMountPath(v.path, workspaceDir);
    if (!link.startsWith(`${workspaceDir}/`)) throw new Error(`volume ${v.name}: path ${JSON.stringify(v.path)} is not inside the workspace directory`);
    return { dir: volumeDir(root, workspace, v.name), link };
  });
}

/**
 * Creates a workspace's directories, links its volumes (made on first use, kept otherwise) into
 * the workspace directory, and writes meta.json (given as an argument), last (see create). What the source has
 * at a volume's path is replaced by the link: the volume's data is what the workspace sees there.
 * `serviceDirs`: the state directories of its services, made in the same mkdir (a start then
 * forks no mkdir of its own).
 */
export function createDirsArgv(paths: WorkspacePaths, meta: string, volumes: { dir: string; link: string }[] = [], serviceDirs: string[] = []): string[] {
  const body = `m=$1
meta=$2
v=$3
shift 3
while [ "$v" -gt 0 ]; do
  mkdir -p -- "$1" "\${2%/*}" || exit 1
  if [ -e "$2" ] || [ -L "$2" ]; then rm -rf -- "$2" || exit 1; fi
  ln -s -- "$1" "$2" || exit 1
  shift 2
  v=$((v - 1))
done
mkdir -p -- "$@" || exit 1
# meta.json as an argument, written by a builtin (no cat to fork): it holds nothing secret. Not
# renamed into place (an mv per workspace): the directory is new, and a reader that finds it
# empty or torn, mid-write or after a crash, sees no workspace, which is what it is until then.
printf '%s' "$meta" > "$m"`;
  return ['/bin/sh', '-c', INLINE_SHELL + body, 'sh', paths.meta, meta, String(volumes.length), ...volumes.flatMap((v) => [v.dir, v.link]),
    paths.stateDir, paths.workspaceDir, ...serviceDirs];
}

/** One exec printing every workspace's meta.json and its service status. */
export function observeArgv(root: string): string[] {
  const body = `[ -d "$1" ] || exit 0
# Every pid's identity in one read first (ident_load), not a /proc read per service.
for w in "$1"/*/; do ident_collect "\${w}state"; done
ident_load
for w in "$1"/*/; do
  w=\${w%/}
  [ -f "$w/meta.json" ] || continue
  printf 'workspace\\t%s\\n' "\${w##*/}"
  # meta.json is one line of JSON: read with a builtin, no fork per workspace.
  m=''
  { IFS= read -r m < "$w/meta.json"; } 2>/dev/null
  printf 'meta\\t%s\\n' "$m"
  service_status "$w/state"
done`;
  return ['/bin/sh', '-c', `${SERVICE_SHELL_LIB}\n${body}`, 'sh', root];
}

/**
 * A person's command in a process workspace, with the environment a service of it gets: nothing of
 * the caller's (on the local node, the controller's own, secrets included), only PATH and HOME as
 * the node gives them, TERM when there is one (a PTY), and the workspace's env.
 */
export function workspaceEnvArgv(argv: string[], env: Record<string, string>): string[] {
  for (const k of Object.keys(env)) {
    if (!ENV_KEY.test(k)) throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
  }
  // "--" ends env's assignments only in GNU env; a command name holding "=" cannot be told apart.
  if (argv[0]?.includes('=')) throw new Error(`cannot run ${JSON.stringify(argv[0])}: a command name may not contain "="`);
  // "$1" is how many NAME=VALUE follow; then the command. A command name not found on PATH gets
  // the shell's message and 127 (env's own would be "env: 'x': No such file or directory").
  const body = `n=$1
shift
p=\${PATH:-${DEFAULT_PATH}} h=\${HOME:-/} t=\${TERM:-}
eval "c=\\\${$((n + 1))}"
case $c in
*/*) ;;
*) if ! PATH=$p command -v "$c" >/dev/null 2>&1; then printf '%s: command not found\\n' "$c" >&2; exit 127; fi ;;
esac
exec env -i "PATH=$p" "HOME=$h" \${t:+"TERM=$t"} "$@"`;
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return ['/bin/sh', '-c', body, 'sh', String(assignments.length), ...assignments, ...argv];
}

/**
 * One exec deleting many workspaces: stops every service of each (they run as plain processes on
 * the node), then removes its directory. Prints "failed<TAB>NAME<TAB>why" for each it could not
 * remove. Args: NAME DIR pairs.
 */
export function deleteManyArgv(workspaces: Array<{ name: string; dir: string }>): string[] {
  // Every service is dropped at once, with one wait for all (drop_services): one after the
  // other, fifty services took ten seconds. Then the directories go.
  const body = `# stop_in NAME DIR...: the services under every workspace DIR, stopped together.
stop_in() {
  n=0
  for a in "$@"; do
    n=$((n + 1))
    [ $((n % 2)) = 0 ] || continue
    for d in "$a"/state/services/*/; do [ -d "$d" ] && set -- "$@" "\${d%/}"; done
  done
  shift "$n"
  if [ "$#" -gt 0 ]; then drop_services "$@"; fi
}
# rm_all NAME DIR...: one rm for every DIR (a fork per workspace, twice over with the capture,
# was most of a large delete's node CPU); what is left is retried alone below, to say why.
rm_all() {
  n=0
  for a in "$@"; do
    n=$((n + 1))
    [ $((n % 2)) = 0 ] && set -- "$@" "$a"
  done
  shift "$n"
  if [ "$#" -gt 0 ]; then rm -rf -- "$@" 2>/dev/null; fi
}
stop_in "$@"
rm_all "$@"
while [ "$#" -ge 2 ]; do
  if [ -e "$2" ] || [ -L "$2" ]; then
    if ! e=$(rm -rf -- "$2" 2>&1); then printf 'failed\t%s\t%s\n' "$1" "$(printf '%s' "$e" | tr '\n' ' ')"; fi
  fi
  shift 2
done
exit 0`;
  return ['/bin/sh', '-c', `${SERVICE_SHELL_LIB}\n${body}`, 'sh', ...workspaces.flatMap((w) => [w.name, w.dir])];
}

/** Parse deleteManyArgv output: name → why it could not be removed. */
export function parseDeleteMany(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [tag, name, why] = line.split('\t');
    if (tag === 'failed' && name) out.set(name, why ?? '');
  }
  return out;
}

function isOurMeta(value: unknown): value is ProcessMeta {
  const m = value as Partial<ProcessMeta> | null;
  return !!m && m.managed === true && m.kind === 'Workspace' && typeof m.name === 'string';
}

/** Parse observeArgv output. Directories without our meta.json are not ours and are skipped. */
export function parseProcessObservation(text: string): ObservedWorkspace[] {
  const blocks = text.split(/^workspace\t/m).slice(1);
  const out: ObservedWorkspace[] = [];
  for (const block of blocks) {
    const metaLine = /^meta\t(.*)$/m.exec(block)?.[1];
    let meta: unknown;
    try {
      meta = metaLine ? JSON.parse(metaLine) : undefined;
    } catch {
      continue; // unreadable metadata: not something we can claim
    }
    if (!isOurMeta(meta)) continue;
    out.push({
      name: meta.name,
      provider: 'process',
      specHash: meta.specHash,
      ...(meta.shapeHash ? { shapeHash: meta.shapeHash } : {}),
      applySet: meta.applySet,
      ...(meta.owner ? { owner: { id: meta.owner.id, name: meta.owner.name } } : {}),
      running: meta.running,
      ...(meta.gitCommit ? { gitCommit: meta.gitCommit } : {}),
      address: ADDRESS,
      services: parseServiceStatus(block),
    });
  }
  return out;
}

function check(res: ExecResult, what: string, node: string, hint?: string): void {
  if (res.code === 0) return;
  const detail = (res.stderr || res.stdout).trim() || `exit code ${res.code}`;
  throw new Error(`${what} on node ${node} failed: ${detail}${hint ? ` (${hint})` : ''}`);
}

/** VENDETTA_NODE_AGENT=off: every service gets its own shell supervisor, as before the agent. */
function nodeAgentWanted(): boolean {
  return process.env.VENDETTA_NODE_AGENT !== 'off';
}

export function createProcessDriver(): ProviderDriver {
  async function rootOf(ctx: DriverContext): Promise<string> {
    return processRoot(ctx.node, await ctx.transport.home(), process.env.VENDETTA_HOME);
  }

  async function pathsOf(ctx: DriverContext, name: string): Promise<WorkspacePaths> {
    return workspacePaths(await rootOf(ctx), name);
  }

  async function readMeta(ctx: DriverContext, name: string, paths: WorkspacePaths): Promise<ProcessMeta> {
    let meta: unknown;
    try {
      meta = JSON.parse((await ctx.transport.readFile(paths.meta)).toString('utf8'));
    } catch (err) {
      throw new Error(`workspace ${name} not found on node ${ctx.node.metadata.name} (${paths.meta}): ${(err as Error).message}`);
    }
    if (!isOurMeta(meta)) throw new Error(`${paths.meta} on node ${ctx.node.metadata.name} is not managed by vendetta`);
    return meta;
  }

  async function writeMeta(ctx: DriverContext, paths: WorkspacePaths, meta: ProcessMeta): Promise<void> {
    await ctx.transport.writeFile(paths.meta, `${JSON.stringify(meta)}\n`, 0o644);
  }

  async function setRunning(ctx: DriverContext, name: string, running: boolean): Promise<void> {
    const paths = await pathsOf(ctx, name);
    const meta = await readMeta(ctx, name, paths);
    if (!running) {
      const res = await ctx.transport.exec(stopAllServicesArgv(paths.stateDir));
      check(res, `stopping the services of workspace ${name}`, ctx.node.metadata.name);
    }
    if (meta.running !== running) await writeMeta(ctx, paths, { ...meta, running });
  }

  return {
    name: 'process',
    // Its create is an exec on the node, which is the runtime: that already ran a command there.
    startedMeansRunning: true,

    async availability() {
      return { available: true, version: 'builtin', detail: 'plain processes under /bin/sh' };
    },

    async observe(ctx) {
      const res = await ctx.transport.exec(observeArgv(await rootOf(ctx)));
      check(res, 'listing process workspaces', ctx.node.metadata.name);
      return parseProcessObservation(res.stdout);
    },

    async create(ctx, ws: DesiredWorkspace) {
      const name = ws.resource.metadata.name;
      const node = ctx.node.metadata.name;
      const paths = await pathsOf(ctx, name);
      const source = ws.resource.spec.source;
      let gitCommit: string | undefined;
      if (source?.git) check(await ctx.transport.exec(['mkdir', '-p', '--', paths.dir]), `creating ${paths.dir}`, node);
      const sourceDir = sourceDirOf(ws);
      if (source?.path && sourceDir) {
        ctx.progress?.(`copying ${source.path} to ${paths.workspaceDir}`);
        // One tar over one exec, ignore rules applied. Not recorded on the controller (a driver has
        // no business in $VENDETTA_HOME): the first `vendetta sync` sends the tree once more.
        // Loaded here: tar-stream and ignore only when there is a source to send.
        const { SourceSync } = await import('../../sync/push.js');
        const target = { workspaceDir: paths.workspaceDir, stateDir: paths.stateDir, exec: ctx.transport.exec.bind(ctx.transport) };
        const sync = new SourceSync(sourceDir, target, undefined, `workspace ${name} on node ${node}`);
        await sync.run({ fresh: true });
      } else if (source?.git) {
        check(await ctx.transport.exec(['rm', '-rf', '--', paths.workspaceDir]), `clearing ${paths.workspaceDir}`, node);
        gitCommit = await fetchGitTree(ctx.transport, source.git, { extract: paths.workspaceDir }, ctx.progress).catch(async (err: unknown) => {
          // Nothing was made yet (no meta.json): leave nothing behind for a ref that does not exist.
          await ctx.transport.exec(['rm', '-rf', '--', paths.dir]).catch(() => undefined);
          throw err;
        });
      }
      // meta.json last: a half-created workspace is not observed as existing, so it is created again.
      const meta = `${JSON.stringify({
        managed: true,
        kind: 'Workspace',
        name,
        specHash: ws.specHash,
        shapeHash: ws.shapeHash,
        applySet: ctx.applySet,
        owner: ws.owner,
        running: ws.resource.spec.state !== 'stopped',
        createdAt: new Date().toISOString(),
        gitCommit,
      } satisfies ProcessMeta)}\n`;
      // An empty workspace is one round trip: its directories and meta.json in one exec.
      const volumes = volumeLinks(await rootOf(ctx), name, ws.resource.spec.volumes);
      const serviceDirs = (ws.services ?? []).map((svc) => serviceDir(paths.stateDir, svc));
      const res = await ctx.transport.exec(createDirsArgv(paths, meta, volumes, serviceDirs));
      check(res, `creating ${paths.dir}`, node);
      return gitCommit ? { gitCommit } : undefined;
    },

    async observeServices(ctx, workspaces) {
      const root = await rootOf(ctx);
      const dirs = workspaces.map((name) => ({ name, dir: workspacePaths(root, name).stateDir }));
      if (dirs.length === 0) return new Map();
      // Same pid namespace as the services: liveness by pid + start time.
      const res = await ctx.transport.exec(nodeStatusArgv(dirs, 'pid'));
      check(res, 'reading the services of process workspaces', ctx.node.metadata.name);
      return parseNodeStatus(res.stdout);
    },

    async deleteMany(ctx, names) {
      const errors = new Map<string, Error>();
      if (names.length === 0) return errors;
      const root = await rootOf(ctx);
      const node = ctx.node.metadata.name;
      const dirs = names.map((name) => ({ name, dir: workspacePaths(root, name).dir }));
      let res: ExecResult;
      try {
        res = await ctx.transport.exec(deleteManyArgv(dirs));
        check(res, `deleting ${names.length} process workspaces`, node);
      } catch (err) {
        for (const name of names) errors.set(name, err as Error);
        return errors;
      }
      for (const [name, why] of parseDeleteMany(res.stdout)) {
        errors.set(name, new Error(`removing ${workspacePaths(root, name).dir} on node ${node} failed: ${why.trim()}`));
      }
      return errors;
    },

    // Services read the workspace env when they start (the planner restarts those whose env
    // changed); the workspace itself is its directory, which an env change leaves alone.
    async update(ctx, ws: DesiredWorkspace) {
      const name = ws.resource.metadata.name;
      const paths = await pathsOf(ctx, name);
      const meta = await readMeta(ctx, name, paths);
      await writeMeta(ctx, paths, { ...meta, specHash: ws.specHash, shapeHash: ws.shapeHash, applySet: ctx.applySet, owner: ws.owner });
    },

    async listVolumes(ctx, workspaces) {
      if (workspaces?.length === 0) return [];
      const res = await ctx.transport.exec(listVolumesArgv(await rootOf(ctx), 'dir', workspaces?.filter((w) => NAME.test(w))));
      check(res, 'listing process volumes', ctx.node.metadata.name);
      return parseVolumeList(res.stdout, 'dir');
    },

    async deleteVolumes(ctx, volumes) {
      if (volumes.length === 0) return;
      const root = await rootOf(ctx);
      // Only directories where we make volumes: a handle is never trusted as a path to remove.
      const dirs = volumes.map((v) => volumeDir(root, v.workspace, v.name));
      const parents = [...new Set(dirs.map((d) => posix.dirname(d)))];
      const res = await ctx.transport.exec(['rm', '-rf', '--', ...dirs]);
      check(res, 'removing process volumes', ctx.node.metadata.name);
      await ctx.transport.exec(['rmdir', '--ignore-fail-on-non-empty', '--', ...parents]).catch(() => undefined);
    },

    start: (ctx, name) => setRunning(ctx, name, true),
    stop: (ctx, name) => setRunning(ctx, name, false),

    async delete(ctx, name) {
      const paths = await pathsOf(ctx, name);
      const node = ctx.node.metadata.name;
      check(await ctx.transport.exec(stopAllServicesArgv(paths.stateDir)), `stopping the services of workspace ${name}`, node);
      check(await ctx.transport.exec(['rm', '-rf', '--', paths.dir]), `removing ${paths.dir}`, node);
    },

    async runtime(ctx, name): Promise<WorkspaceRuntime> {
      const root = await rootOf(ctx);
      const paths = workspacePaths(root, name);
      const { transport } = ctx;
      return {
        workspaceDir: paths.workspaceDir,
        stateDir: paths.stateDir,
        address: ADDRESS,
        // Its readers (observe, the node status read) share the services' pid namespace.
        serviceLiveness: 'pid',
        // One node agent per root supervises its services (a shell supervisor each without it).
        ...(nodeAgentWanted() ? { nodeAgent: nodeAgentPrefix(root) } : {}),
        exec: (argv, opts) => transport.exec(argv, { ...opts, cwd: opts?.cwd ?? paths.workspaceDir }),
        spawn: (argv, opts) =>
          opts?.asWorkspace
            ? transport.spawn(workspaceEnvArgv(argv, opts.env ?? {}), { ...opts, env: undefined, cwd: opts.cwd ?? paths.workspaceDir })
            : transport.spawn(argv, { ...opts, cwd: opts?.cwd ?? paths.workspaceDir }),
      };
    },
  };
}
