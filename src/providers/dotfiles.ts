// spec.dotfiles, applied once after a workspace is created (as DevPod and Codespaces do): the tree
// (a local directory, or a repository fetched on the node like source.git) goes to ~/.dotfiles in
// the workspace (process: <workspace dir>/.dotfiles, the node user's home being shared by every
// workspace), then `install` runs there, or the first install script found. Called from the
// create path only (src/reconcile/pass.ts), so a no-op apply never runs it again and a recreate
// does. The same for every provider: everything goes through the workspace runtime.
import type { WorkspaceResource } from '../model/types.js';
import { fetchGitTar } from './git-source.js';
import { ProviderError, type DriverContext, type ProviderDriver, type WorkspaceRuntime } from './types.js';

/** Looked for in this order when `install` is not given (the DevPod / Codespaces list). */
export const DOTFILES_SCRIPTS = ['install.sh', 'install', 'bootstrap.sh', 'bootstrap', 'setup.sh', 'setup'] as const;

/**
 * Pure: one exec that runs the install step in DIR ("$1"): `install` ("$2") with /bin/sh when
 * given, else the first script found (executable: run as is; otherwise with /bin/sh). Prints
 * "dotfiles: <what ran>" first, or "dotfiles: nothing to run".
 */
export function dotfilesInstallArgv(dir: string, install: string | undefined): string[] {
  const body = `cd "$1" || exit 1
if [ -n "$2" ]; then echo "dotfiles: $2"; exec /bin/sh -c "$2"; fi
for f in ${DOTFILES_SCRIPTS.join(' ')}; do
  [ -f "$f" ] || continue
  echo "dotfiles: $f"
  if [ -x "$f" ]; then exec "./$f"; fi
  exec /bin/sh "./$f"
done
echo 'dotfiles: nothing to run'`;
  return ['/bin/sh', '-c', body, 'sh', dir, install ?? ''];
}

/** Where the dotfiles go: ~/.dotfiles, or <workspace dir>/.dotfiles for process. */
async function dotfilesDir(ws: WorkspaceResource, rt: WorkspaceRuntime): Promise<string> {
  if (ws.spec.provider === 'process') return `${rt.workspaceDir}/.dotfiles`;
  const res = await rt.exec(['/bin/sh', '-c', 'printf "%s" "${HOME:-/root}"']);
  const home = res.code === 0 && res.stdout.startsWith('/') ? res.stdout.replace(/\/+$/, '') : '/root';
  return `${home}/.dotfiles`;
}

/**
 * Puts the dotfiles in a workspace just created and runs their install step. A failure is
 * permanent (not retried: the workspace exists, a retry would not create it again) and says how
 * to run it again.
 */
export async function applyDotfiles(ctx: DriverContext, driver: ProviderDriver, ws: WorkspaceResource): Promise<void> {
  const spec = ws.spec.dotfiles;
  const name = ws.metadata.name;
  if (!spec) return;
  if (ws.spec.state === 'stopped') {
    ctx.progress?.(`workspace ${name} is stopped: dotfiles not applied`);
    return;
  }
  const where = `workspace ${name} on node ${ctx.node.metadata.name}`;
  const again = 'fix them, then recreate the workspace (vendetta delete workspace/NAME, then apply) to apply them again';
  const rt = await driver.runtime(ctx, name);
  const dir = await dotfilesDir(ws, rt);
  let tar: Buffer;
  if (spec.path !== undefined) {
    ctx.progress?.(`copying dotfiles ${spec.path} to ${name}:${dir}`);
    const [{ scanTree }, { packToBuffer }] = await Promise.all([import('../sync/tree.js'), import('../sync/pack.js')]);
    const { manifest } = await scanTree(spec.path);
    tar = (await packToBuffer(spec.path, manifest, Object.keys(manifest).sort())).tar;
  } else {
    tar = (await fetchGitTar(ctx.transport, { url: spec.git! }, '', ctx.progress)).tar;
  }
  const put = await rt.exec(['/bin/sh', '-c', 'rm -rf -- "$1" && mkdir -p -- "$1" && tar -x -f - -C "$1"', 'sh', dir], { stdin: tar, timeoutMs: 300_000 });
  if (put.code !== 0) throw new ProviderError(`putting the dotfiles in ${where} failed: ${put.stderr.trim() || `exit ${put.code}`}`, again, true);
  const run = await rt.exec(dotfilesInstallArgv(dir, spec.install), { cwd: dir, timeoutMs: 600_000 });
  const ran = /^dotfiles: (.*)$/m.exec(run.stdout)?.[1] ?? 'install';
  if (run.code !== 0) {
    const tail = (run.stderr || run.stdout).trim().split('\n').slice(-5).join('\n');
    throw new ProviderError(`dotfiles ${ran} failed in ${where} (exit ${run.code}): ${tail}`, again, true);
  }
  ctx.progress?.(`dotfiles applied in ${name}:${dir} (${ran})`);
}
