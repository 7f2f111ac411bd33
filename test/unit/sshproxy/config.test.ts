import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST_KEY_ALIAS, knownHostsLine, proxyCommand, renderSshConfig, withInclude, workspaceOfHost } from '../../../src/sshproxy/config.js';
import { ensureHostKey, ensureProxyTrust, proxyPaths } from '../../../src/sshproxy/keys.js';

const opts = {
  cli: ['/usr/bin/node', '/opt/vendetta/dist/vendetta.js'],
  env: { VENDETTA_HOME: '/home/u/.vendetta' },
  knownHostsFile: '/home/u/.vendetta/ssh-proxy/known_hosts',
  home: '/home/u/.vendetta',
};

describe('renderSshConfig', () => {
  it('one Host block per workspace (sorted), then a *.vendetta catch-all with %n', () => {
    const text = renderSshConfig([{ workspace: 'web', user: 'root' }, { workspace: 'api', user: 'dev' }], opts);
    const hosts = [...text.matchAll(/^Host (.*)$/gm)].map((m) => m[1]);
    expect(hosts).toEqual(['api.vendetta', 'web.vendetta', '*.vendetta']);
    expect(text).toContain(
      'Host api.vendetta\n  User dev\n  ProxyCommand env VENDETTA_HOME=/home/u/.vendetta /usr/bin/node /opt/vendetta/dist/vendetta.js ssh-proxy api\n',
    );
    expect(text).toContain('ssh-proxy %n\n');
    // the proxy's own key is checked, strictly, in vendetta's known_hosts only
    expect(text.match(/StrictHostKeyChecking yes/g)).toHaveLength(3);
    expect(text.match(new RegExp(`HostKeyAlias ${HOST_KEY_ALIAS}`, 'g'))).toHaveLength(3);
    expect(text).toContain('  UserKnownHostsFile /home/u/.vendetta/ssh-proxy/known_hosts\n');
    expect(text).not.toMatch(/StrictHostKeyChecking no|accept-new/);
  });

  it('quotes paths for sh and doubles % (ssh expands %-tokens in ProxyCommand)', () => {
    const cmd = proxyCommand({ cli: ['/opt/my node/node', '/x/100%/vendetta.js'], env: { VENDETTA_HOME: "/h/it's" } }, 'ws');
    expect(cmd).toBe(`env 'VENDETTA_HOME=/h/it'\\''s' '/opt/my node/node' /x/100%%/vendetta.js ssh-proxy ws`);
  });

  it('double-quotes a known_hosts path with blanks, refuses one with a double quote', () => {
    expect(renderSshConfig([], { ...opts, knownHostsFile: '/a b/kh' })).toContain('UserKnownHostsFile "/a b/kh"');
    expect(() => renderSshConfig([], { ...opts, knownHostsFile: '/a"b/kh' })).toThrow(/cannot write/);
  });
});

describe('workspaceOfHost', () => {
  it('takes a workspace name or what %n gives', () => {
    expect(workspaceOfHost('api')).toBe('api');
    expect(workspaceOfHost('api.vendetta')).toBe('api');
  });
});

describe('withInclude', () => {
  const file = '/home/u/.ssh/vendetta.config';
  it('adds the Include as the first line (before any Host), once', () => {
    const first = withInclude('Host a\n  User x\n', file);
    expect(first).toEqual({ text: `Include ${file}\n\nHost a\n  User x\n`, changed: true });
    expect(withInclude(first.text, file)).toEqual({ text: first.text, changed: false });
  });
  it('an empty or missing config becomes just the Include', () => {
    expect(withInclude('', file)).toEqual({ text: `Include ${file}\n`, changed: true });
  });
  it('recognises an existing Include of the file, also among others or quoted', () => {
    expect(withInclude(`  include other.conf "${file}"\n`, file).changed).toBe(false);
    expect(withInclude('Include other.conf\n', file).changed).toBe(true);
  });
});

describe('proxy host key', () => {
  it('is made once; every later (or concurrent) call reads the same key; known_hosts trusts it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'vendetta-sshp-'));
    try {
      const paths = proxyPaths(home);
      const keys = await Promise.all([ensureHostKey(paths), ensureHostKey(paths), ensureHostKey(paths)]);
      expect(new Set(keys.map((k) => k.publicKey)).size).toBe(1);
      expect(keys[0]!.publicKey).toMatch(/^ssh-ed25519 AAAA/);
      const pub = await ensureProxyTrust(paths);
      expect(pub).toBe(keys[0]!.publicKey);
      expect(readFileSync(paths.knownHosts, 'utf8')).toBe(knownHostsLine(pub));
      expect(readFileSync(paths.knownHosts, 'utf8')).toMatch(new RegExp(`^${HOST_KEY_ALIAS} ssh-ed25519 AAAA\\S+\\n$`));
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
