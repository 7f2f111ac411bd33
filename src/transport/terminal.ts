// A command on a terminal of a given size, set from inside before the command starts: a runtime
// whose resize can only follow the start (Docker's exec API, util-linux script) would otherwise
// let a quick command (`ssh -tt ws stty size`) see a 0x0 terminal.

/** argv, run by /bin/sh after `stty rows R cols C` on its terminal (silently skipped without stty). */
export function sizedTerminalArgv(argv: string[], size: { rows: number; cols: number }): string[] {
  const rows = String(Math.max(1, Math.floor(size.rows)));
  const cols = String(Math.max(1, Math.floor(size.cols)));
  return ['/bin/sh', '-c', 'stty rows "$1" cols "$2" 2>/dev/null; shift 2; exec "$@"', 'sh', rows, cols, ...argv];
}
