// Running commands inside an instance: `lxc exec` / `incus exec` on the node, through the node's
// Transport (argv arrays, quoted once by the transport).
//
// Why the CLI and not POST /1.0/instances/<n>/exec: the exec API hands back websockets (one per
// stdio stream plus a control socket) that we would have to speak over ssh2 channels; the CLI is
// installed wherever the daemon is, already speaks them, passes stdin/stdout/stderr and the exit
// code through one SSH channel (~40 ms), and gives a PTY for `vendetta shell`. LXD_SOCKET /
// INCUS_SOCKET point it at the same socket the REST client uses.
import type { ExecOptions, ExecResult, SpawnOptions, SpawnedProcess, Transport } from '../../transport/types.js';
import { cliEnv, cliExecArgv, type LxcFlavor } from './spec.js';

export interface ExecTarget {
  transport: Transport;
  flavor: LxcFlavor;
  socket: string;
  instance: string;
}

export function lxcExec(target: ExecTarget, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const { env, cwd, stdin, ...rest } = opts;
  const full = cliExecArgv(target.flavor, target.instance, argv, {
    ...(env ? { env } : {}),
    ...(cwd ? { cwd } : {}),
    stdin: stdin !== undefined,
  });
  return target.transport.exec(full, { ...rest, ...(stdin !== undefined ? { stdin } : {}), env: cliEnv(target.flavor, target.socket) });
}

export function lxcSpawn(target: ExecTarget, argv: string[], opts: SpawnOptions = {}): Promise<SpawnedProcess> {
  const { env, cwd, pty } = opts;
  const full = cliExecArgv(target.flavor, target.instance, argv, {
    ...(env ? { env } : {}),
    ...(cwd ? { cwd } : {}),
    stdin: true,
    tty: pty !== undefined,
  });
  return target.transport.spawn(full, { ...(pty ? { pty } : {}), env: cliEnv(target.flavor, target.socket) });
}
