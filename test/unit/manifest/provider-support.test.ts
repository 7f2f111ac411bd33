// A Workspace field its provider would ignore is an error naming the provider and what to do.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatManifestErrorFrom, loadManifests } from '../../../src/manifest/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendetta-support-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function check(spec: string): Promise<string[]> {
  writeFileSync(join(dir, 'ws.yaml'), `apiVersion: vendetta.dev/v1alpha1\nkind: Workspace\nmetadata: {name: api}\nspec:\n${spec}`);
  const result = await loadManifests(['ws.yaml'], { cwd: dir, environ: {} });
  return result.ok ? [] : result.errors.map((e) => formatManifestErrorFrom(dir, e));
}

describe('provider process', () => {
  test('image, pull, resources and ports are errors at their keys, naming the provider', async () => {
    const errors = await check(`  provider: process
  image: node:22
  pull: always
  resources: {cpus: 2, memory: 1Gi, disk: 10Gi}
  ports: ["8080:3000"]
  vm: {user: root}
`);
    expect(errors).toEqual([
      'ws.yaml:6:3: Workspace "api": provider process does not support spec.image (a process workspace runs on the node itself, there is no image; remove spec.image or use provider docker, lxc or qemu)',
      'ws.yaml:7:3: Workspace "api": provider process does not support spec.pull (a process workspace has no image; remove spec.pull)',
      'ws.yaml:8:15: Workspace "api": provider process does not support spec.resources.cpus (process workspaces are not limited; remove spec.resources.cpus or use provider docker, lxc or qemu)',
      'ws.yaml:8:24: Workspace "api": provider process does not support spec.resources.memory (process workspaces are not limited; remove spec.resources.memory or use provider docker, lxc or qemu)',
      'ws.yaml:8:37: Workspace "api": provider process does not support spec.resources.disk (process workspaces are not limited; remove spec.resources.disk or use provider lxc or qemu)',
      "ws.yaml:9:3: Workspace \"api\": provider process does not support spec.ports (a process workspace publishes nothing: its services listen on the node's own ports directly; remove spec.ports, or use provider docker, lxc or qemu to publish ports)",
      'ws.yaml:10:3: Workspace "api": provider process does not support spec.vm (spec.vm configures qemu virtual machines only; remove it or use provider qemu)',
    ]);
  });

  test('what it honours passes: source (path or git), env, state, pull: missing (the default)', async () => {
    expect(await check(`  provider: process\n  source: {git: {url: "https://example.invalid/r.git"}}\n  env: {A: "1"}\n  state: stopped\n  pull: missing\n`)).toEqual([]);
  });
});

describe('other providers', () => {
  test('docker: no disk size, no vm (a git source is fine: every provider fetches it)', async () => {
    const errors = await check(`  provider: docker
  image: node:22
  resources: {disk: 10Gi}
  source: {git: {url: "https://example.invalid/r.git"}}
  vm: {user: root}
`);
    expect(errors).toEqual([
      'ws.yaml:7:15: Workspace "api": provider docker does not support spec.resources.disk (a docker container has no disk size of its own; remove spec.resources.disk or use provider lxc or qemu)',
      'ws.yaml:9:3: Workspace "api": provider docker does not support spec.vm (spec.vm configures qemu virtual machines only; remove it or use provider qemu)',
    ]);
  });

  test('source.onNode: lxc only (a disk device); onNode: false passes everywhere', async () => {
    expect(await check(`  provider: lxc\n  image: a\n  source: {path: /srv/app, onNode: true}\n`)).toEqual([]);
    expect(await check(`  provider: docker\n  image: a\n  source: {path: /tmp, onNode: false}\n`)).toEqual([]);
    expect(await check(`  provider: docker\n  image: a\n  source: {path: /srv/app, onNode: true}\n`)).toEqual([
      'ws.yaml:7:28: Workspace "api": provider docker does not support spec.source.onNode (only lxc workspaces mount a node directory (a disk device); remove spec.source.onNode to copy the source in)',
    ]);
  });

  test('lxc: pull other than missing; qemu: pull', async () => {
    expect(await check(`  provider: lxc\n  image: alpine/3.20\n  pull: always\n`)).toEqual([
      'ws.yaml:7:3: Workspace "api": provider lxc does not support spec.pull (lxc fetches a remote image on first use and never re-pulls; remove spec.pull or set it to missing)',
    ]);
    expect(await check(`  provider: lxc\n  image: alpine/3.20\n  pull: missing\n  resources: {cpus: 1, memory: 1Gi, disk: 1Gi}\n  ports: ["80"]\n`)).toEqual([]);
    expect(await check(`  provider: qemu\n  image: /var/lib/img.qcow2\n  pull: never\n  source: {git: {url: "https://example.invalid/r.git"}}\n`)).toEqual([
      'ws.yaml:7:3: Workspace "api": provider qemu does not support spec.pull (a qemu image is a disk image path on the node, nothing is pulled; remove spec.pull)',
    ]);
  });
});

describe('spec.user', () => {
  test('docker takes a name, a uid or uid:gid', async () => {
    for (const user of ['node', '"1000"', '"1000:1000"', 'app:staff']) {
      expect(await check(`  provider: docker\n  image: busybox\n  user: ${user}\n`)).toEqual([]);
    }
  });

  test('a user with shell characters or spaces is refused at file:line, saying what to write', async () => {
    const errors = await check(`  provider: docker\n  image: busybox\n  user: "me; rm -rf /"\n`);
    expect(errors).toEqual([
      'ws.yaml:7:9: Workspace "api" spec.user "me; rm -rf /" is not a valid user: write a user name, a uid or "uid:gid" (e.g. "1000:1000"): letters, digits, "_", ".", "-", no spaces or shell characters',
    ]);
    expect(await check(`  provider: docker\n  image: busybox\n  user: "1000:"\n`)).toHaveLength(1);
  });

  test('other providers refuse it, naming what to use instead', async () => {
    const errors = await check(`  provider: qemu\n  image: /img/disk.qcow2\n  user: dev\n`);
    expect(errors).toEqual([
      "ws.yaml:7:3: Workspace \"api\": provider qemu does not support spec.user (spec.user sets a docker container's user; for a virtual machine use spec.vm.user, or remove spec.user)",
    ]);
  });
});
