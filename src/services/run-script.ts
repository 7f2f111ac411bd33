// What a service's process runs first, whoever starts it (the shell supervisor, ./supervisor.ts,
// or the node agent, ./node-agent.ts). Pure: the script as data.

/** PATH for services when the workspace's exec gives none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The service itself, run as `/bin/sh -c SERVICE_RUN_SCRIPT sh DIR` by the supervisor (or the node
 * agent, ./node-agent.ts): cd, load env, hand the command text to a fresh shell. Both files are
 * read with builtins before the env file runs, into names no env key would take (none is
 * exported). On fd 3, when open, it says "ready" once the command is found.
 */
export const SERVICE_RUN_SCRIPT = String.raw`# __vendetta_slurp FILE: the whole file in __vendetta_v, as $(cat FILE) would give it.
__vendetta_slurp() {
  __vendetta_v="" __vendetta_l=""
  while IFS= read -r __vendetta_l || [ -n "$__vendetta_l" ]; do
    __vendetta_v="$__vendetta_v$__vendetta_l
"
    __vendetta_l=""
  done < "$1" || return 1
  while :; do
    case $__vendetta_v in *"
") __vendetta_v=\${__vendetta_v%?} ;; *) break ;; esac
  done
}
__vendetta_slurp "$1/workdir" || exit 127
__vendetta_wd=$__vendetta_v
__vendetta_slurp "$1/command" || exit 127
cd "$__vendetta_wd" || exit 127
. "$1/env" || exit 127
# A first word that names no command fails here, before the start is confirmed: the one failure
# certain at start is reported by the start itself, with no window to wait out. Only plain words
# are checked (not assignments, keywords or expansions, which the shell below resolves).
__vendetta_ifs=$IFS
IFS=" 	
"
set -f
set -- $__vendetta_v
set +f
IFS=$__vendetta_ifs
[ "\${1-}" != exec ] || shift
case \${1-} in
  "" | *[!A-Za-z0-9_./+-]*) ;;
  *) command -v -- "$1" >/dev/null 2>&1 || { printf "sh: %s: not found\n" "$1" >&2; exit 127; } ;;
esac
# Confirm the start (fd 3: the FIFO of whoever started us, on a first start only), then become
# the service.
{ printf "ready\n" >&3; } 2>/dev/null
exec /bin/sh -c "$__vendetta_v" 3>&-`.replace(/\\\$\{/g, '${');
