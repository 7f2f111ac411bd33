import { describe, expect, it } from 'vitest';
import { agentForwardingAllowed } from '../../../src/transport/ssh.js';
import { SshConfig, SshConfigError, describeHop, parseJumpSpec, resolveRoute, type SshConfigSource } from '../../../src/transport/ssh-config.js';

/** An in-memory ~/.ssh: path → text; glob matches `*` and `?` in the last path segment. */
function source(files: Record<string, string>, main = '/home/me/.ssh/config'): SshConfigSource {
  return {
    path: main,
    includeDir: '/home/me/.ssh',
    home: '/home/me',
    localUser: 'me',
    read: (p) => files[p],
    glob: (pattern) => {
      const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
      return Object.keys(files).filter((p) => re.test(p)).sort();
    },
  };
}

function route(files: Record<string, string>, address: string, explicit: { port?: number; user?: string; identityFile?: string } = {}) {
  const src = source(files);
  return resolveRoute(new SshConfig(src), { address, ...explicit }, src);
}

describe('ssh config resolution', () => {
  it('a missing config gives the defaults: the address itself, port 22, the local user', () => {
    expect(route({}, 'box.example')).toEqual({
      jumps: [],
      target: { name: 'box.example', host: 'box.example', port: 22, user: 'me', identityFiles: [] },
    });
  });

  it('a Host alias gives HostName, User, Port and IdentityFiles (tilde-expanded, in order, %-tokens)', () => {
    const r = route(
      {
        '/home/me/.ssh/config': `
Host dev
  HostName 10.1.2.3
  User alice
  Port 2200
  IdentityFile ~/.ssh/id_dev
  IdentityFile "/keys/%r at %h"
Host *
  User nobody
  IdentityFile ~/.ssh/id_all
`,
      },
      'dev',
    );
    expect(r.target).toEqual({
      name: 'dev',
      host: '10.1.2.3',
      port: 2200,
      user: 'alice',
      identityFiles: ['/home/me/.ssh/id_dev', '/keys/alice at 10.1.2.3', '/home/me/.ssh/id_all'],
    });
  });

  it('explicit Node fields win over the config', () => {
    const files = { '/home/me/.ssh/config': 'Host dev\n  HostName h\n  User alice\n  Port 2200\n  IdentityFile ~/k\n' };
    expect(route(files, 'dev', { port: 22, user: 'bob', identityFile: '/x/key' }).target).toEqual({
      name: 'dev', host: 'h', port: 22, user: 'bob', identityFiles: ['/x/key'],
    });
  });

  it('option names and Host are case-insensitive; HostName %h is the alias', () => {
    const r = route({ '/home/me/.ssh/config': 'HOST web*\n  hostname %h.example.org\n  user   = carol\n' }, 'web1');
    expect(r.target).toMatchObject({ host: 'web1.example.org', user: 'carol' });
  });

  it('ProxyJump: each hop is looked up in the config, user@host:port overrides it', () => {
    const r = route(
      {
        '/home/me/.ssh/config': `
Host bastion
  HostName 10.251.0.2
  User jump
  IdentityFile ~/.ssh/bastion_key
Host inner
  HostName 10.252.0.2
  ProxyJump bastion
Host target
  HostName 10.253.0.2
  ProxyJump ops@bastion:2022,inner
`,
      },
      'target',
    );
    expect(r.jumps.map(describeHop)).toEqual(['bastion (ops@10.251.0.2:2022)', 'inner (me@10.252.0.2:22)']);
    expect(r.jumps[0]!.identityFiles).toEqual(['/home/me/.ssh/bastion_key']);
    // "-J a,b": b is reached through a; b's own ProxyJump (bastion again) is not added a second time
    expect(r.jumps).toHaveLength(2);
    expect(describeHop(r.target)).toBe('target (me@10.253.0.2:22)');
  });

  it("the first hop's own ProxyJump chains further", () => {
    const r = route(
      { '/home/me/.ssh/config': 'Host outer\n  HostName 1.1.1.1\nHost mid\n  HostName 2.2.2.2\n  ProxyJump outer\nHost t\n  ProxyJump mid\n' },
      't',
    );
    expect(r.jumps.map((h) => h.host)).toEqual(['1.1.1.1', '2.2.2.2']);
  });

  it('ProxyJump none (e.g. in a more specific block first) means a direct connection', () => {
    const r = route({ '/home/me/.ssh/config': 'Host direct\n  ProxyJump none\nHost *\n  ProxyJump bastion\n' }, 'direct');
    expect(r.jumps).toEqual([]);
  });

  it('a ProxyJump loop is refused with the file and line', () => {
    expect(() => route({ '/home/me/.ssh/config': 'Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n' }, 'a')).toThrow(
      /more than 8 jump hosts \(\/home\/me\/\.ssh\/config:\d\) \(a ProxyJump loop\?\)/,
    );
  });

  it('ProxyCommand is refused (vendetta does not run it), naming where it is', () => {
    expect(() => route({ '/home/me/.ssh/config': '\nHost x\n  ProxyCommand nc %h %p\n' }, 'x')).toThrow(
      'ssh config gives Host x a ProxyCommand (/home/me/.ssh/config:3), which vendetta does not run',
    );
  });

  it('an invalid Port says which file and line', () => {
    expect(() => route({ '/home/me/.ssh/config': '# c\n\nHost x\n  Port twenty\n' }, 'x')).toThrow(
      'ssh config gives Host x the invalid Port "twenty" (/home/me/.ssh/config:4)',
    );
  });

  it('an unparsable file is an error naming the file and line', () => {
    let err: unknown;
    try {
      route({ '/home/me/.ssh/config': 'Host ok\n  User a\nHost bad\n  IdentityFile "/unterminated\n' }, 'ok');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SshConfigError);
    expect((err as Error).message).toMatch(/^cannot parse ssh config \/home\/me\/\.ssh\/config:4: /);
  });
});

describe('Include', () => {
  it('globbed, relative to ~/.ssh, in sorted order; the first value obtained wins', () => {
    const r = route(
      {
        '/home/me/.ssh/config': 'Include conf.d/*.conf\nHost *\n  User fallback\n',
        '/home/me/.ssh/conf.d/20-b.conf': 'Host dev\n  User second\n  Port 2\n',
        '/home/me/.ssh/conf.d/10-a.conf': 'Host dev\n  HostName from-a\n  User first\n',
        '/home/me/.ssh/conf.d/ignored.txt': 'Host dev\n  HostName wrong\n',
      },
      'dev',
    );
    expect(r.target).toMatchObject({ host: 'from-a', user: 'first', port: 2 });
  });

  it('absolute and ~ paths, nested includes; a pattern matching nothing is fine', () => {
    const r = route(
      {
        '/home/me/.ssh/config': 'Include ~/.ssh/one /etc/none/*\n',
        '/home/me/.ssh/one': 'Include /abs/two\n',
        '/abs/two': 'Host dev\n  HostName deep\n',
      },
      'dev',
    );
    expect(r.target.host).toBe('deep');
  });

  it('inside a Host block: read only when the block applies, and the block goes on after it', () => {
    const files = {
      '/home/me/.ssh/config': 'Host dev\n  Include extra\n  Port 2222\nHost *\n  Port 1\n',
      '/home/me/.ssh/extra': 'User fromextra\nHost *\n  HostName viaextra\n',
    };
    // the included file's own Host blocks count where the including block applies
    expect(route(files, 'dev').target).toMatchObject({ user: 'fromextra', port: 2222, host: 'viaextra' });
    // for another host the block does not apply: none of the included file, nor the block's Port
    expect(route(files, 'other').target).toMatchObject({ user: 'me', port: 1, host: 'other' });
  });

  it('an Include loop stops at the nesting limit with a clear error', () => {
    expect(() => route({ '/home/me/.ssh/config': 'Include config\n' }, 'x')).toThrow(/Includes are nested deeper than 16 at \/home\/me\/\.ssh\/config:1 \(an Include loop\?\)/);
  });

  it('a parse error in an included file names that file', () => {
    expect(() => route({ '/home/me/.ssh/config': 'Include inc\n', '/home/me/.ssh/inc': '\n\nMatch host\n' }, 'x')).toThrow(
      /^cannot parse ssh config \/home\/me\/\.ssh\/inc:3: /,
    );
  });
});

describe('parseJumpSpec', () => {
  it('reads the ProxyJump hop forms', () => {
    expect(parseJumpSpec('bastion')).toEqual({ host: 'bastion' });
    expect(parseJumpSpec('u@b:2022')).toEqual({ user: 'u', host: 'b', port: 2022 });
    expect(parseJumpSpec('ssh://u@b:22')).toEqual({ user: 'u', host: 'b', port: 22 });
    expect(parseJumpSpec('[fe80::1]:2200')).toEqual({ host: 'fe80::1', port: 2200 });
  });
  it('refuses a bad port or an empty host', () => {
    expect(() => parseJumpSpec('b:99999')).toThrow('invalid ProxyJump hop "b:99999"');
    expect(() => parseJumpSpec('u@')).toThrow('invalid ProxyJump hop');
  });
});

describe('ForwardAgent', () => {
  it('is read from the config for the node (yes/no; a socket path is not SSH_AUTH_SOCK: no), absent when unset', () => {
    const files = {
      '/home/me/.ssh/config': `
Host fwd
  ForwardAgent yes
Host nofwd
  ForwardAgent no
Host sock
  ForwardAgent ~/.ssh/other.sock
Host *
  User me
`,
    };
    expect(route(files, 'fwd').target.forwardAgent).toBe(true);
    expect(route(files, 'nofwd').target.forwardAgent).toBe(false);
    expect(route(files, 'sock').target.forwardAgent).toBe(false);
    expect('forwardAgent' in route(files, 'other').target).toBe(false);
  });

  it("a Node's spec.forwardAgent wins over the config; neither: off, as OpenSSH", () => {
    expect(agentForwardingAllowed({}, {})).toBe(false);
    expect(agentForwardingAllowed({}, { forwardAgent: true })).toBe(true);
    expect(agentForwardingAllowed({ forwardAgent: false }, { forwardAgent: true })).toBe(false);
    expect(agentForwardingAllowed({ forwardAgent: true }, { forwardAgent: false })).toBe(true);
    expect(agentForwardingAllowed({ forwardAgent: true }, {})).toBe(true);
  });
});
