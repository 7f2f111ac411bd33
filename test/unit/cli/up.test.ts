import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachHelp, findDevcontainer, UP_MARKER, upManifest } from '../../../src/cli/up.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'vendetta-up-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('vendetta up', () => {
  it('finds .devcontainer/devcontainer.json, then .devcontainer.json, or takes the file itself', () => {
    expect(findDevcontainer(dir)).toBeUndefined();
    writeFileSync(join(dir, '.devcontainer.json'), '{}');
    expect(findDevcontainer(dir)).toEqual({ file: join(dir, '.devcontainer.json'), folder: dir });
    mkdirSync(join(dir, '.devcontainer'));
    writeFileSync(join(dir, '.devcontainer', 'devcontainer.json'), '{}');
    expect(findDevcontainer(dir)).toEqual({ file: join(dir, '.devcontainer', 'devcontainer.json'), folder: dir });
    expect(findDevcontainer(join(dir, '.devcontainer', 'devcontainer.json'))).toEqual({ file: join(dir, '.devcontainer', 'devcontainer.json'), folder: dir });
  });

  it('writes a Workspace that points at the file', () => {
    const text = upManifest({ name: 'app', node: 'box', devcontainerPath: '../.devcontainer/devcontainer.json' });
    expect(text.startsWith(UP_MARKER)).toBe(true);
    expect(text).toContain('kind: Workspace\nmetadata:\n  name: app\nspec:\n  node: box\n  provider: docker\n  devcontainer:\n    path: "../.devcontainer/devcontainer.json"\n');
  });

  it('says how to attach, and where forwarded ports are', () => {
    expect(attachHelp('app', 'local', ['127.0.0.1:3000:3000', '9000'])).toContain('  http://127.0.0.1:3000\n');
    const remote = attachHelp('app', 'box', ['127.0.0.1:3000:3000']);
    expect(remote).toContain('vendetta shell app');
    expect(remote).toContain('ssh app.vendetta');
    expect(remote).toContain('vendetta port-forward app 3000');
  });
});
