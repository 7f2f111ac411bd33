// The pure parts of source.git: cache paths, ref kinds, the node scripts' argv, their output.
// The scripts themselves run against a real repository in test/e2e/git-source.test.ts.
import { describe, expect, it } from 'vitest';
import { agentNote, describeGit, gitCacheRepo, isSshUrl, gitFetchArgv, isCommitId, lsRemoteArgv, parseFetchedCommit, parseLsRemote } from '../../../src/providers/git-source.js';
import { dotfilesInstallArgv, DOTFILES_SCRIPTS } from '../../../src/providers/dotfiles.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';

describe('git source', () => {
  it('keeps one bare cache per URL under ~/.vendetta/git', () => {
    const a = gitCacheRepo('/home/u', 'https://example.invalid/a.git');
    expect(a).toMatch(/^\/home\/u\/\.vendetta\/git\/[0-9a-f]{16}\.git$/);
    expect(gitCacheRepo('/home/u', 'https://example.invalid/a.git')).toBe(a);
    expect(gitCacheRepo('/home/u', 'https://example.invalid/b.git')).not.toBe(a);
  });

  it('tells a full commit id from a branch, a tag or an abbreviation', () => {
    expect(isCommitId(SHA)).toBe(true);
    expect(isCommitId('a'.repeat(64))).toBe(true);
    expect(isCommitId('0123456')).toBe(false);
    expect(isCommitId('main')).toBe(false);
    expect(isCommitId(SHA.toUpperCase())).toBe(false);
    expect(isCommitId(undefined)).toBe(false);
  });

  it('passes URL, ref and paths as arguments, never as shell text; the token never appears', () => {
    const url = "https://example.invalid/r.git; rm -rf / 'x'";
    const argv = gitFetchArgv('/h/.vendetta/git/x.git', url, 'feature/$(id)', { file: '/vm/source.tar', prefix: 'workspace/' });
    expect(argv.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(argv.slice(3)).toEqual(['sh', '/h/.vendetta/git', '/h/.vendetta/git/x.git', url, 'feature/$(id)', 'file', '/vm/source.tar', 'workspace/']);
    expect(argv[2]).not.toContain(url);
    expect(gitFetchArgv('/r.git', 'u', undefined, { extract: '/w' }).slice(-4)).toEqual(['', 'extract', '/w', '']);
    expect(lsRemoteArgv('/h/.vendetta/git', url, undefined).slice(3)).toEqual(['sh', '/h/.vendetta/git', url, '']);
  });

  it('reads the commit the fetch printed', () => {
    expect(parseFetchedCommit(`noise\ncommit ${SHA}\n`)).toBe(SHA);
    expect(parseFetchedCommit('commit nope\n')).toBeUndefined();
  });

  it('resolves a ref in ls-remote output: a branch before a tag, an annotated tag peeled, HEAD by default', () => {
    const out = [
      `${'1'.repeat(40)}\tHEAD`,
      `${'2'.repeat(40)}\trefs/heads/v1`,
      `${'3'.repeat(40)}\trefs/tags/v1`,
      `${'4'.repeat(40)}\trefs/tags/v1^{}`,
      `${'5'.repeat(40)}\trefs/tags/v2`,
      `${'6'.repeat(40)}\trefs/tags/v2^{}`,
      `${'7'.repeat(40)}\trefs/remotes/origin/main`,
    ].join('\n');
    expect(parseLsRemote(out, undefined)).toBe('1'.repeat(40));
    expect(parseLsRemote(out, 'v1')).toBe('2'.repeat(40));
    expect(parseLsRemote(out, 'v2')).toBe('6'.repeat(40));
    expect(parseLsRemote(out, 'main')).toBeUndefined();
    expect(parseLsRemote(out, 'refs/remotes/origin/main')).toBe('7'.repeat(40));
  });

  it('names the ref and the URL in messages', () => {
    expect(describeGit({ url: 'https://x/r.git', ref: 'main' })).toBe('ref "main" of https://x/r.git');
    expect(describeGit({ url: 'https://x/r.git' })).toBe('the default branch (HEAD) of https://x/r.git');
  });
});

describe('dotfiles install step', () => {
  it('runs the given command, else the first script of the usual list', () => {
    const argv = dotfilesInstallArgv('/root/.dotfiles', undefined);
    expect(argv.slice(3)).toEqual(['sh', '/root/.dotfiles', '']);
    expect(argv[2]).toContain(`for f in ${DOTFILES_SCRIPTS.join(' ')}; do`);
    expect(dotfilesInstallArgv('/d', 'make install').slice(3)).toEqual(['sh', '/d', 'make install']);
    expect(DOTFILES_SCRIPTS).toEqual(['install.sh', 'install', 'bootstrap.sh', 'bootstrap', 'setup.sh', 'setup']);
  });
});

describe('lxc files API entries from a git tree', () => {
  it('lists directories, files (content, mode) and symlinks at "/" + name, parents first', async () => {
    const { tarEntries } = await import('../../../src/providers/lxc/files.js');
    const tarStream = (await import('tar-stream')).default;
    const pack = tarStream.pack();
    pack.entry({ name: 'workspace/', type: 'directory', mode: 0o775 });
    pack.entry({ name: 'workspace/bin/', type: 'directory', mode: 0o775 });
    pack.entry({ name: 'workspace/bin/run.sh', type: 'file', mode: 0o755 }, '#!/bin/sh\n');
    pack.entry({ name: 'workspace/link', type: 'symlink', linkname: 'bin/run.sh' });
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    expect(await tarEntries(Buffer.concat(chunks))).toEqual([
      { type: 'directory', path: '/workspace', mode: 0o775 },
      { type: 'directory', path: '/workspace/bin', mode: 0o775 },
      { type: 'file', path: '/workspace/bin/run.sh', mode: 0o755, local: Buffer.from('#!/bin/sh\n') },
      { type: 'symlink', path: '/workspace/link', target: 'bin/run.sh' },
    ]);
  });
});

describe('ssh URLs and agent forwarding', () => {
  it('tells ssh URLs (which may use a forwarded agent) from the others, as git does', () => {
    for (const url of ['ssh://git@example.invalid/a.git', 'SSH://h:2222/a', 'git+ssh://h/a', 'ssh+git://h/a', 'git@example.invalid:org/a.git', 'host:a.git', 'vdtest@127.0.0.11:/srv/a.git', '[::1]:a.git']) {
      expect(isSshUrl(url), url).toBe(true);
    }
    for (const url of ['https://example.invalid/a.git', 'http://h/a', 'git://h/a', 'file:///srv/a.git', '/srv/a.git', './a:b', 'dir/a:b', 'C:/repo', 'a.git', ':a']) {
      expect(isSshUrl(url), url).toBe(false);
    }
  });

  it('says in a failed fetch what became of the agent', () => {
    expect(agentNote(undefined, 'n1')).toBe('');
    expect(agentNote('local', 'n1')).toBe('');
    expect(agentNote('refused', 'n1')).toMatch(/agent forwarding was refused by the sshd of node n1.*node's own keys/);
    expect(agentNote('disabled', 'n1')).toContain('set spec.forwardAgent: true on Node n1');
    expect(agentNote('no-agent', 'n1')).toContain('SSH_AUTH_SOCK');
    expect(agentNote('forwarded', 'n1')).toContain('forwarded');
  });
});
