// Is a -f file a Compose file rather than vendetta manifests? Light on purpose: the loader asks it
// of every file, and only a Compose file loads the converter.
import { basename } from 'node:path';

const COMPOSE_NAMES = new Set(['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml']);

/** By name (compose.y[a]ml, docker-compose.y[a]ml, docker-compose.override.yml…) or content. */
export function isComposeFile(file: string, text: string): boolean {
  const name = basename(file).toLowerCase();
  if (COMPOSE_NAMES.has(name) || /^(docker-)?compose[.-].*\.ya?ml$/.test(name)) return true;
  // Content: a top-level `services:` and no apiVersion (every vendetta manifest has one).
  return /^services:/m.test(text) && !/^apiVersion:/m.test(text);
}
