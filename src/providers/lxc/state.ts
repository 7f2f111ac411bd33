// The node side of an LXD/Incus workspace's supervisor state: a directory of the SSH user on the
// node (~/.vendetta/lxc/<node>/<workspace>), attached to the instance as a disk device at
// STATE_DIR, so ONE exec on the node reads the services of every workspace there. Pure: argv
// builders and a parser; the driver runs them.
//
// Why the device is not shifted (shift: "true"): LXD 5.0 decides whether it can make idmapped
// mounts by trying one with a user namespace that has no id mapping, which recent kernels refuse
// (mount_setattr: EINVAL), so the start fails with "idmapping abilities are required" even where
// GET /1.0 reports kernel_features.idmapped_mounts "true". A plain bind mount works with every
// LXD/Incus and kernel: ids are not translated, so the directory is world-writable with the
// sticky bit (1777) for the container's root, an unmapped "other" user there. What the container
// writes belongs to its root's host uid and is readable by the node user; the directories it makes
// inside (services/…) are opened up before the instance stops (see the driver), so the node user
// can delete everything. The parents (~/.vendetta/lxc) are 0700: no other node user reaches them.
// Service files are installed from inside (not from the node, as Docker does): so the env file
// stays 0600 and the container root's own, which a node-side install could not give.
import type { ObservedService } from '../../model/types.js';
import { parseServiceStatus, SERVICE_FIELDS_LIB } from '../../services/supervisor.js';

/** Where the state dirs live, relative to the SSH user's home on the node. */
export const STATE_ROOT = '.vendetta/lxc';

/** The node directory of a workspace, relative to the SSH user's home. */
export function nodeStateDir(node: string, workspace: string): string {
  return `${STATE_ROOT}/${node}/${workspace}`;
}

/**
 * Makes (fresh) the workspace's node directory and prints its absolute path. A directory left by
 * an earlier workspace of the same name is emptied first: its state is not this workspace's.
 */
export function prepareStateDirArgv(rel: string): string[] {
  const body = `umask 077
mkdir -p "$HOME/${STATE_ROOT}" && chmod 700 "$HOME/${STATE_ROOT}" || exit 1
d="$HOME/$1"
rm -rf "$d" 2>/dev/null
if [ -e "$d" ]; then echo "cannot empty $d (files of an earlier workspace written as another user): remove it as root" >&2; exit 1; fi
mkdir -p "$d" && chmod 1777 "$d" || exit 1
printf '%s\\n' "$d"`;
  return ['/bin/sh', '-c', body, 'sh', rel];
}

/**
 * Removes workspace directories (absolute, or relative to the home). Only paths under
 * ~/.vendetta/lxc/ are touched, whatever a config key says. Prints "left<TAB>DIR" for each
 * directory that could not be removed.
 */
export function removeStateDirsArgv(dirs: string[]): string[] {
  const body = `for d in "$@"; do
  case $d in /*) ;; *) d="$HOME/$d" ;; esac
  case $d in "$HOME/${STATE_ROOT}/"*/*) ;; *) continue ;; esac
  case $d in *..*) continue ;; esac
  rm -rf "$d" 2>/dev/null
  if [ -e "$d" ]; then printf 'left\\t%s\\n' "$d"; fi
done
exit 0`;
  return ['/bin/sh', '-c', body, 'sh', ...dirs];
}

/** Parse removeStateDirsArgv output: the directories left behind. */
export function parseLeftDirs(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('left\t'))
    .map((l) => l.slice('left\t'.length));
}

/**
 * Reads the services of many workspaces on the node, with shell builtins (no fork per file).
 * Arguments: NAME DIR pairs (DIR absolute, or relative to the home). Each block is headed by
 * "workspace<TAB>NAME"; a directory that is not there says "nodir<TAB>1".
 *
 * Liveness across pid namespaces: a supervisor that holds the flock on its "lock" file (images
 * with flock) is alive while a lock attempt fails. Otherwise: the supervisor records "PID START"
 * (its pid inside the container and its start time, in clock ticks since boot, the same in every
 * namespace). The node sees every container's processes; /proc/N/status gives their pid inside
 * their namespace (the last NSpid field). A supervisor is alive when some process has that pid
 * and that start time, which stays right after the instance restarts (busybox images have no
 * flock). Without NSpid (kernels before 4.1) the files are trusted.
 */
export const NODE_STATUS_SCRIPT = SERVICE_FIELDS_LIB + String.raw`# (in a function: its "set --" leaves the script's arguments alone)
scan() {
ids=' '
nsok=0
for s in /proc/[0-9]*/status; do
  ns=''
  { while read -r k v; do if [ "$k" = NSpid: ]; then ns=$v; break; fi; done < "$s"; } 2>/dev/null
  [ -n "$ns" ] || continue
  nsok=1
  set -- $ns
  [ "$#" -gt 1 ] || continue
  while [ "$#" -gt 1 ]; do shift; done
  np=$1
  p=\${s%/status}
  st=''
  { read -r st < "$p/stat"; } 2>/dev/null
  [ -n "$st" ] || continue
  set -- \${st##*) }
  [ "$1" != Z ] || continue
  shift 19
  ids="$ids$np:$1 "
done
}
scan
if command -v flock >/dev/null 2>&1; then flk=1; else flk=0; fi
runs() {
  { read -r op oi om < "$1"; } 2>/dev/null || return 1
  case $ids in *" $op:$oi "*) return 0 ;; esac
  return 1
}
while [ "$#" -ge 2 ]; do
  printf 'workspace\t%s\n' "$1"
  w=$2
  case $w in /*) ;; *) w="$HOME/$w" ;; esac
  shift 2
  if [ ! -d "$w" ]; then printf 'nodir\t1\n'; continue; fi
  for d in "$w"/services/*/; do
    n=\${d%/}
    [ -f "$n/command" ] || continue
    printf 'service\t%s\n' "\${n##*/}"
    if [ "$flk" = 1 ] && [ -f "$n/lock" ]; then
      if flock -n "$n/lock" true 2>/dev/null; then a=0; else a=1; fi
    elif [ "$nsok" = 1 ] && [ -f "$n/supervisor.id" ]; then
      if runs "$n/supervisor.id"; then a=1; else a=0; fi
    elif [ -s "$n/supervisor.pid" ]; then a=1; else a=0; fi
    service_fields "$n" "$a"
    if [ "$st" = running ] && [ "$nsok" = 1 ] && [ -f "$n/pid.id" ] && ! runs "$n/pid.id"; then printf 'child\tgone\n'; fi
    service_log_tail "$n" "$a"
  done
done
exit 0`.replace(/\\\$\{/g, '${');

export function nodeStatusArgv(workspaces: Array<{ name: string; dir: string }>): string[] {
  return ['/bin/sh', '-c', NODE_STATUS_SCRIPT, 'sh', ...workspaces.flatMap((w) => [w.name, w.dir])];
}

/**
 * Parse nodeStatusArgv output: workspace → its services, or `undefined` when its directory is
 * missing (an instance made before node state dirs: read it from inside instead).
 */
export function parseNodeStatus(text: string): Map<string, ObservedService[] | undefined> {
  const out = new Map<string, ObservedService[] | undefined>();
  for (const block of text.split(/^workspace\t/m).slice(1)) {
    const nl = block.indexOf('\n');
    const name = nl < 0 ? block : block.slice(0, nl);
    const rest = nl < 0 ? '' : block.slice(nl + 1);
    out.set(name, /^nodir\t/m.test(rest) ? undefined : parseServiceStatus(rest));
  }
  return out;
}
