// spec.build in manifests: docker only, image or build, context and Dockerfile checked at load.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatManifestErrorFrom, loadManifests } from '../../../src/manifest/index.js';
import type { WorkspaceResource } from '../../../src/model/types.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendetta-build-'));
  mkdirSync(join(dir, 'app', 'docker'), { recursive: true });
  writeFileSync(join(dir, 'app', 'Dockerfile'), 'FROM busybox\n');
  writeFileSync(join(dir, 'app', 'docker', 'Dockerfile.dev'), 'FROM busybox\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function load(spec: string) {
  writeFileSync(join(dir, 'ws.yaml'), `apiVersion: vendetta.dev/v1alpha1\nkind: Workspace\nmetadata: {name: api}\nspec:\n${spec}`);
  return loadManifests(['ws.yaml'], { cwd: dir, environ: {} });
}
async function errors(spec: string): Promise<string[]> {
  const result = await load(spec);
  return result.ok ? [] : result.errors.map((e) => formatManifestErrorFrom(dir, e));
}

describe('spec.build', () => {
  test('the context is resolved against the manifest directory; image is optional', async () => {
    const result = await load('  provider: docker\n  build: {context: app, dockerfile: docker/Dockerfile.dev, args: {A: "1"}, target: dev}\n');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const ws = result.set.desired.workspaces.get('api') as WorkspaceResource;
    expect(ws.spec.build).toEqual({ context: join(dir, 'app'), dockerfile: 'docker/Dockerfile.dev', args: { A: '1' }, target: 'dev' });
  });

  test('a docker workspace needs image or build', async () => {
    expect(await errors('  provider: docker\n')).toEqual([
      'ws.yaml:4:1: Workspace "api" spec needs "image" (an image reference) or "build" (a Dockerfile to build on the node) for provider docker',
    ]);
  });

  test('image and build together, or a pull policy with build, are errors', async () => {
    expect(await errors('  provider: docker\n  image: busybox\n  pull: always\n  build: {context: app}\n')).toEqual([
      'ws.yaml:6:3: Workspace "api" spec.image: set either spec.image or spec.build, not both (a built image is tagged vendetta-build/<workspace>:<hash>); remove one',
      'ws.yaml:7:3: Workspace "api" spec.pull: a built image is never pulled (its FROM images must be on the node); remove spec.pull',
    ]);
  });

  test('only the docker provider builds', async () => {
    const e = await errors('  provider: lxc\n  image: alpine/3.20\n  build: {context: app}\n');
    expect(e).toEqual([
      'ws.yaml:7:3: Workspace "api": provider lxc does not support spec.build (only the docker provider builds images; remove spec.build, or use provider docker)',
    ]);
  });

  test('unknown keys in build are errors', async () => {
    const e = await errors('  provider: docker\n  build: {context: app, cache_from: [x]}\n');
    expect(e.join('\n')).toMatch(/ws\.yaml:6:.*cache_from/);
  });

  test('a missing context, a context that is a file, a missing or escaping Dockerfile: at file:line', async () => {
    expect(await errors('  provider: docker\n  build: {context: nope}\n')).toEqual([
      `ws.yaml:6:20: Workspace "api" spec.build.context: directory "nope" does not exist (resolved to ${join(dir, 'nope')}); create it or fix the path`,
    ]);
    expect(await errors('  provider: docker\n  build: {context: app/Dockerfile}\n')).toEqual([
      `ws.yaml:6:20: Workspace "api" spec.build.context: "app/Dockerfile" (${join(dir, 'app', 'Dockerfile')}) is not a directory; point it at the directory holding the Dockerfile`,
    ]);
    expect(await errors('  provider: docker\n  build:\n    context: app/docker\n')).toEqual([
      `ws.yaml:7:14: Workspace "api" spec.build.dockerfile: no "Dockerfile" in the build context (looked for ${join(dir, 'app', 'docker', 'Dockerfile')}); add it or set spec.build.dockerfile`,
    ]);
    expect(await errors('  provider: docker\n  build:\n    context: app/docker\n    dockerfile: ../Dockerfile\n')).toEqual([
      `ws.yaml:8:17: Workspace "api" spec.build.dockerfile: "../Dockerfile" is outside the build context ${join(dir, 'app', 'docker')}; it must be a path inside it`,
    ]);
  });
});
