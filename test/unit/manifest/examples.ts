// The shipped example manifests (examples/, manifests/): every test that checks "what we ship validates" reads them.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../../..');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

/** Every .yaml/.yml file under examples/ and manifests/ (a CI workflow among them: check apiVersion). */
export function exampleYamlFiles(): string[] {
  return [...yamlFiles(join(REPO, 'examples')), ...yamlFiles(join(REPO, 'manifests'))];
}
