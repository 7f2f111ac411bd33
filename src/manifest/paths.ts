// Local paths written in a manifest (source.path, build.context, dotfiles.path, a token's
// fromFile, spec.devcontainer.path): "~" is the user's home, anything relative is relative to the
// manifest's own directory. Pure.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function manifestPath(manifestDir: string, written: string): string {
  return resolve(manifestDir, written === '~' || written.startsWith('~/') ? join(homedir(), written.slice(1)) : written);
}
