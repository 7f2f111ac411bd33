// spec.devcontainer: the loader fills a Workspace from a devcontainer.json before validating it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatManifestErrorFrom, loadManifests } from '../../../src/manifest/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendetta-dvc-load-'));
  mkdirSync(join(dir, '.devcontainer'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const manifest = (extra = '') => `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: app}
spec:
  provider: docker
  devcontainer: {path: .devcontainer/devcontainer.json}
${extra}`;

async function load(devcontainer: string, extra = '') {
  writeFileSync(join(dir, '.devcontainer', 'devcontainer.json'), devcontainer);
  writeFileSync(join(dir, 'ws.yaml'), manifest(extra));
  return loadManifests(['ws.yaml'], { cwd: dir, environ: { WHO: 'me' } });
}

describe('spec.devcontainer', () => {
  it('fills the workspace from the file; fields in the manifest win', async () => {
    const result = await load(
      `{ // comment
  "image": "debian:12", "forwardPorts": [3000], "containerEnv": {"WHO": "\${localEnv:WHO}"},
  "postCreateCommand": "make", "features": {"x": {}},
}`,
      '  ports: ["8080:3000"]\n',
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const ws = result.set.desired.workspaces.get('app')!;
    expect(ws.spec).toMatchObject({
      provider: 'docker',
      image: 'debian:12',
      ports: ['8080:3000'],
      env: { WHO: 'me' },
      lifecycle: { postCreate: ['make'] },
      source: { path: dir },
      devcontainer: { path: '.devcontainer/devcontainer.json' },
    });
    expect(result.warnings).toEqual([`${join(dir, '.devcontainer/devcontainer.json')}: not supported, ignored: features`]);
  });

  it('a syntax error in the devcontainer.json is reported at its line:col', async () => {
    const result = await load('{\n  "image": "a"\n  "forwardPorts": [1]\n}');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => formatManifestErrorFrom(dir, e))).toEqual([
      '.devcontainer/devcontainer.json:3:3: not valid JSON (with comments): CommaExpected (read for Workspace "app" spec.devcontainer.path)',
    ]);
  });

  it('a missing file is an error at spec.devcontainer.path', async () => {
    writeFileSync(join(dir, 'ws.yaml'), manifest().replace('.devcontainer/devcontainer.json', 'nope.json'));
    const result = await loadManifests(['ws.yaml'], { cwd: dir, environ: {} });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(formatManifestErrorFrom(dir, result.errors[0]!)).toMatch(/^ws\.yaml:6:\d+: Workspace "app" spec\.devcontainer\.path: cannot read "nope\.json"/);
  });
});

describe('spec.devcontainer with dockerComposeFile', () => {
  it('is refused: one Workspace cannot hold a Compose project', async () => {
    const result = await load('{"dockerComposeFile": "../compose.yml", "service": "app"}');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors[0]!.message).toMatch(/dockerComposeFile: it makes one workspace per Compose service.*run `vendetta up` on the folder/);
  });
});
