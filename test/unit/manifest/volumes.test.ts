// spec.volumes: every problem located at its file:line:col, and the pure rules behind them.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatManifestErrorFrom, loadManifests } from '../../../src/manifest/index.js';
import { workspaceSpecHash } from '../../../src/model/hash.js';
import type { WorkspaceResource } from '../../../src/model/types.js';
import { hasVolumes, volumeIssues, volumeMountPath } from '../../../src/model/volumes.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendetta-volumes-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function load(text: string): Promise<string[]> {
  writeFileSync(join(dir, 'ws.yaml'), text);
  const result = await loadManifests(['.'], { cwd: dir, environ: {} });
  return result.ok ? [] : result.errors.map((e) => formatManifestErrorFrom(dir, e));
}

const ws = (provider: string, volumes: string) => `apiVersion: vendetta.dev/v1alpha1
kind: Workspace
metadata: {name: api}
spec:
  provider: ${provider}
${provider === 'process' ? '' : '  image: debian:12\n'}  volumes:
${volumes}`;

describe('spec.volumes in manifests', () => {
  test('a valid list loads', async () => {
    expect(await load(ws('docker', '    - {name: data, path: /data, size: 1Gi}\n    - {name: cache, path: .cache}\n'))).toEqual([]);
    expect(await load(ws('process', '    - {name: data, path: data}\n'))).toEqual([]);
  });

  test('each problem at its place, with what to do', async () => {
    expect(
      await load(
        ws(
          'process',
          `    - {name: data, path: /data}
    - {name: data, path: data/x, size: 1Q}
    - {name: c, path: data}
    - {name: d, path: "../x"}
    - {name: Bad_Name, path: e}
    - {path: f}
`,
        ),
      ),
    ).toEqual([
      'ws.yaml:7:26: Workspace "api" spec.volumes[0].path: path "/data" must be relative for provider process (a process workspace has no filesystem of its own): write it relative to the workspace directory, e.g. "data"',
      'ws.yaml:8:14: Workspace "api" spec.volumes[1].name: volume name "data" is already used by spec.volumes[0]; give each volume its own name',
      'ws.yaml:8:40: Workspace "api" spec.volumes[1].size "1Q" is not a valid quantity: use a number with an optional unit (K, M, G, T or Ki, Mi, Gi, Ti), e.g. "512Mi", "2Gi", "1G"',
      'ws.yaml:9:23: Workspace "api" spec.volumes[2].path: path "data" contains spec.volumes[1].path "data/x"; give each volume a path of its own, not nested in another',
      'ws.yaml:10:23: Workspace "api" spec.volumes[3].path: path "../x" may not contain ".."; write it without going up, e.g. "data" or "/var/lib/data"',
      'ws.yaml:11:14: metadata.name "Bad_Name" is not a valid name: use lowercase letters, digits and "-" (max 63)'.replace('metadata.name', 'Workspace "api" spec.volumes[4].name'),
      'ws.yaml:12:7: Workspace "api" spec.volumes[5] is missing required field "name"',
    ]);
  });

  test('the same path written twice (absolute and relative) and the root are refused', () => {
    expect(volumeIssues([{ name: 'a', path: '/workspace/x' }, { name: 'b', path: 'x/' }], 'docker').map((i) => i.message)).toEqual([
      'path "x/" is the same path as spec.volumes[0].path "/workspace/x"; give each volume a path of its own, not nested in another',
    ]);
    expect(volumeIssues([{ name: 'a', path: '/' }, { name: 'b', path: '.' }], 'lxc').map((i) => i.field)).toEqual(['path', 'path']);
  });
});

describe('volume rules', () => {
  test('mount paths', () => {
    expect(volumeMountPath('/srv/data/', '/workspace')).toBe('/srv/data');
    expect(volumeMountPath('data', '/workspace')).toBe('/workspace/data');
    expect(volumeMountPath('./a/b', '/home/u/ws')).toBe('/home/u/ws/a/b');
  });

  test('hasVolumes (for the plan warning): only a non-empty list counts', () => {
    expect(hasVolumes({})).toBe(false);
    expect(hasVolumes({ volumes: [] })).toBe(false);
    expect(hasVolumes({ volumes: [{ name: 'a', path: 'a' }] })).toBe(true);
  });

  test('spec hash: unchanged without volumes, changed by adding one, not by its size', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const base: WorkspaceResource = { apiVersion: 'vendetta.dev/v1alpha1', kind: 'Workspace', metadata: { name: 'a' }, spec: { node: 'local', provider: 'process' } };
    const withSpec = (spec: Partial<WorkspaceResource['spec']>) => workspaceSpecHash({ ...base, spec: { ...base.spec, ...spec } }, {}, key);
    const plain = withSpec({});
    expect(withSpec({ volumes: [] })).toBe(plain);
    const one = withSpec({ volumes: [{ name: 'd', path: 'd', size: '1Gi' }] });
    expect(one).not.toBe(plain);
    expect(withSpec({ volumes: [{ name: 'd', path: 'd', size: '5Gi' }] })).toBe(one);
    expect(withSpec({ volumes: [{ name: 'd', path: 'e' }] })).not.toBe(one);
  });
});

test('get -o wide shows volumes with their declared size', async () => {
  const { volumesCell } = await import('../../../src/model/volumes.js');
  expect(volumesCell([{ name: 'db', path: '/var/lib/db', size: '10Gi' }, { name: 'cache', path: '.cache' }])).toBe('db:/var/lib/db(10Gi),cache:.cache');
  expect(volumesCell(undefined)).toBeUndefined();
});
