// Chaos 4: a node's host key changes in the middle of its life (sshd restarted with a new key).
// apply refuses it with both fingerprints and runs nothing there; after the user re-trusts the key
// with the command the error gives, apply converges against the re-keyed node.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infraDir, infraNode, knownHostsLines, loadInfra, nodeCtl, rekeyedHostKey, type Infra } from '../e2e/helpers/infra.js';
import { dockerEvents, dockerTime } from '../e2e/helpers/remote.js';
import { requireBuiltCli } from '../e2e/support/cli.js';
import { disposeAndVerify, expectConverges, laptop, type Laptop } from './helpers/harness.js';
import { dockerWorkspace, NODES, observeWorld, processWorkspace, type Decl } from './helpers/world.js';

const execFileP = promisify(execFile);

async function sshFingerprint(pub: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vendetta-fp-'));
  try {
    writeFileSync(join(dir, 'k.pub'), pub + '\n');
    const { stdout } = await execFileP('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'k.pub')]);
    return stdout.split(' ')[1]!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const decl: Decl = {
  nodes: NODES,
  workspaces: [dockerWorkspace('chaos-h-d1', 'n1'), dockerWorkspace('chaos-h-d2', 'n2'), processWorkspace('chaos-h-p2', 'n2')],
};

describe('chaos: a host key that changes mid-life', () => {
  let infra: Infra;
  let l: Laptop;
  const sshdLog = () => join(infraDir(), 'nodes', 'n2', 'sshd.log');
  beforeAll(async () => {
    requireBuiltCli();
    infra = loadInfra();
    l = await laptop(infra);
    l.write(decl);
  });
  afterAll(async () => {
    // The original key back on the node and in this laptop's known_hosts, then clean up.
    await nodeCtl('start', 'n2');
    if (l) writeFileSync(l.home.knownHostsPath, knownHostsLines(infra), { mode: 0o600 });
    await disposeAndVerify(l);
  });

  it('converges before the change', async () => {
    await expectConverges(l, decl);
  });

  it('apply refuses n2 with both fingerprints, runs nothing there; after re-trusting, converges', async () => {
    const before = await observeWorld(infra);
    await nodeCtl('rekey', 'n2');
    const logOffset = statSync(sshdLog()).size;
    const since = dockerTime();
    const r = await l.cli('apply', '-f', l.dir);
    const until = dockerTime();
    const out = r.stdout + r.stderr;
    expect(r.code, out).toBe(1);
    expect(out).toContain(await sshFingerprint(infraNode(infra, 'n2').hostKeyPub));
    expect(out).toContain(await sshFingerprint(rekeyedHostKey('n2')));
    expect(out).toMatch(/Nothing was run/);
    // Nothing ran on n2: no Docker activity, no login, its objects are the same ones.
    expect(await dockerEvents(infra, 'n2', since, until)).toEqual([]);
    expect(readFileSync(sshdLog(), 'utf8').slice(logOffset)).not.toMatch(/Accepted publickey/);
    const after = await observeWorld(infra);
    expect(after.containers.filter((c) => c.node === 'n2')).toEqual(before.containers.filter((c) => c.node === 'n2'));
    expect(after.supervisors.filter((s) => s.service === 'chaos-h-p2-svc')).toEqual(before.supervisors.filter((s) => s.service === 'chaos-h-p2-svc'));

    // Re-trust exactly as the error says: the ssh-keygen -R it prints, then connect again (TOFU).
    const fix = /run: (ssh-keygen -R '([^']+)' -f (\S+))/.exec(out);
    expect(fix, `the error gives the command that removes the old key:\n${out}`).not.toBeNull();
    await execFileP('ssh-keygen', ['-R', fix![2]!, '-f', fix![3]!]);
    await expectConverges(l, decl);
  });
});
