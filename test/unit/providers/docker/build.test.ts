// The POST /build query and the labels of built images and containers (pure parts of ./build.ts, ./spec.ts).
import { describe, expect, it } from 'vitest';
import { buildOptions, builtImageLabels } from '../../../../src/providers/docker/build.js';
import { LABEL_BUILD_HASH, containerCreateOptions, observedFromContainer } from '../../../../src/providers/docker/spec.js';
import type { DesiredWorkspace } from '../../../../src/providers/types.js';
import { API_VERSION } from '../../../../src/model/types.js';
import type Docker from 'dockerode';

const ws = (build: DesiredWorkspace['resource']['spec']['build']): DesiredWorkspace => ({
  resource: { apiVersion: API_VERSION, kind: 'Workspace', metadata: { name: 'api' }, spec: { node: 'n1', provider: 'docker', build } },
  specHash: 'spec-hash',
  env: {},
  owner: { id: 'owner-id', name: 'me@host' },
  build: { hash: 'abc123def4567890', tag: 'vendetta-build/api:abc123def456' },
});

describe('buildOptions', () => {
  it('tags, labels and picks the classic builder; args and target only when given', () => {
    expect(buildOptions(ws({ context: '/c' }))).toEqual({
      t: 'vendetta-build/api:abc123def456',
      dockerfile: 'Dockerfile',
      labels: builtImageLabels(ws({ context: '/c' })),
      rm: true,
      forcerm: true,
      version: '1',
    });
    expect(buildOptions(ws({ context: '/c', dockerfile: './docker/Dockerfile.dev', args: { A: '1' }, target: 'dev' }))).toMatchObject({
      dockerfile: 'docker/Dockerfile.dev',
      buildargs: { A: '1' },
      target: 'dev',
    });
  });

  it('labels the image with whose it is and its build hash', () => {
    expect(builtImageLabels(ws({ context: '/c' }))).toEqual({
      'vendetta.dev/managed': 'true',
      'vendetta.dev/kind': 'Image',
      'vendetta.dev/node': 'n1',
      'vendetta.dev/workspace': 'api',
      'vendetta.dev/owner': 'owner-id',
      'vendetta.dev/build-hash': 'abc123def4567890',
    });
  });
});

describe('the container of a built workspace', () => {
  it('runs the tag, carries the build hash, and is observed with it', () => {
    const desired = ws({ context: '/c' });
    const options = containerCreateOptions(desired, 'default', desired.build!.tag);
    expect(options.Image).toBe('vendetta-build/api:abc123def456');
    expect(options.Labels![LABEL_BUILD_HASH]).toBe('abc123def4567890');
    const info = { Names: ['/vendetta-api'], Labels: options.Labels, State: 'running' } as unknown as Docker.ContainerInfo;
    expect(observedFromContainer(info).buildHash).toBe('abc123def4567890');
  });

  it('a workspace without build has no build label', () => {
    const plain: DesiredWorkspace = { ...ws(undefined), build: undefined };
    expect(containerCreateOptions(plain, 'default', 'busybox').Labels![LABEL_BUILD_HASH]).toBeUndefined();
  });
});
