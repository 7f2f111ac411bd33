// Lifecycle hooks (spec.lifecycle, the devcontainer lifecycle commands): shell commands run inside
// a workspace through its runtime's exec, the same for every provider. The executor runs onCreate
// + postCreate + postStart after a create, postStart after a start; `vendetta shell` and ssh-proxy
// run postAttach. Steps that run once after creation (dotfiles) belong beside runHooks.
import type { WorkspaceLifecycle } from '../model/types.js';
import type { WorkspaceRuntime } from '../providers/types.js';
import type { WorkspaceOperation } from './workspace-machine.js';
import { TerminalError } from './retry.js';

export type Hook = keyof WorkspaceLifecycle;

/** A hook's command may install a toolchain: bounded, but generously. */
export const HOOK_TIMEOUT_MS = 30 * 60_000;
/** Lines of a failed command's output kept in its error. */
const TAIL_LINES = 20;

/** Which hooks an operation that leaves the workspace running owes it (pure). */
export function hooksAfter(operation: WorkspaceOperation | undefined): Hook[] {
  switch (operation) {
    case 'create':
    case 'recreate':
      return ['onCreate', 'postCreate', 'postStart'];
    case 'start':
      return ['postStart'];
    default:
      return []; // update keeps the running workspace; a no-op changes nothing
  }
}

/** The hooks' commands in order, each with the name it is reported by ("postCreate[1]"). */
export function hookCommands(lifecycle: WorkspaceLifecycle | undefined, hooks: Hook[]): { hook: string; command: string }[] {
  return hooks.flatMap((hook) => (lifecycle?.[hook] ?? []).map((command, i, all) => ({ hook: all.length > 1 ? `${hook}[${i}]` : hook, command })));
}

export class HookError extends TerminalError {
  constructor(
    readonly hook: string,
    readonly code: number,
    readonly output: string,
  ) {
    super(`${hook} command failed (exit ${code})${output ? `:\n${output}` : ' without output'}`, 'fix the command in spec.lifecycle (or the devcontainer.json), then apply again');
    this.name = 'HookError';
  }
}

/**
 * Runs the hooks' commands one after another in the workspace directory, with the workspace env;
 * the first that fails stops the rest and throws a HookError with the end of its output.
 */
export async function runHooks(
  rt: WorkspaceRuntime,
  lifecycle: WorkspaceLifecycle | undefined,
  hooks: Hook[],
  opts: { env?: Record<string, string>; progress?: (message: string) => void; output?: (text: string) => void } = {},
): Promise<number> {
  const commands = hookCommands(lifecycle, hooks);
  for (const { hook, command } of commands) {
    opts.progress?.(`running ${hook}: ${firstLine(command)}`);
    const result = await rt.exec(['sh', '-c', command], { cwd: rt.workspaceDir, env: opts.env, timeoutMs: HOOK_TIMEOUT_MS });
    opts.output?.(`${result.stdout}${result.stderr}`);
    if (result.code !== 0) throw new HookError(hook, result.code, tail(`${result.stdout}${result.stderr}`));
  }
  return commands.length;
}

function firstLine(command: string): string {
  const line = command.split('\n')[0]!;
  return line.length > 80 || command.includes('\n') ? `${line.slice(0, 80)}…` : line;
}

function tail(output: string): string {
  const lines = output.trimEnd().split('\n');
  return (lines.length > TAIL_LINES ? ['…', ...lines.slice(-TAIL_LINES)] : lines).join('\n');
}

/**
 * postAttach, for a session that attaches (`vendetta shell`, ssh-proxy): its output and a failure
 * go to `log` (stderr: ssh-proxy's stdout is the SSH stream); the session opens either way.
 */
export async function runAttachHooks(rt: WorkspaceRuntime, lifecycle: WorkspaceLifecycle | undefined, env: Record<string, string>, log: (text: string) => void): Promise<void> {
  if (!lifecycle?.postAttach?.length) return;
  try {
    await runHooks(rt, lifecycle, ['postAttach'], { env, output: (text) => text && log(text) });
  } catch (err) {
    if (!(err instanceof HookError)) throw err;
    log(`warning: ${err.hook} command failed (exit ${err.code}); opening the session anyway\n`);
  }
}
