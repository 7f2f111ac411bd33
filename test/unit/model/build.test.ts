// The pure part of image builds: .dockerignore rules, the build hash, the tag, the failure message.
import { describe, expect, it } from 'vitest';
import { BuildLog, buildFailureMessage, buildHash, buildTag, contextFilter, dockerfilePath, type ContextEntry } from '../../../src/model/build.js';

describe('contextFilter (.dockerignore, Docker semantics)', () => {
  it('anchors patterns at the context root, unlike .gitignore', () => {
    const f = contextFilter('node_modules\n*.log\n', 'Dockerfile');
    expect(f.excluded('node_modules')).toBe(true);
    expect(f.excluded('node_modules/x/y.js')).toBe(true);
    expect(f.excluded('app/node_modules')).toBe(false);
    expect(f.excluded('debug.log')).toBe(true);
    expect(f.excluded('app/debug.log')).toBe(false);
  });

  it('supports ** , ! exceptions and comments', () => {
    const f = contextFilter('# comment\n**/*.tmp\nsecrets\n!secrets/public.pem\n', 'Dockerfile');
    expect(f.excluded('a/b/c.tmp')).toBe(true);
    expect(f.excluded('c.tmp')).toBe(true);
    expect(f.excluded('secrets/key')).toBe(true);
    expect(f.excluded('secrets/public.pem')).toBe(false);
    expect(f.excluded('# comment')).toBe(false);
    expect(f.hasExceptions).toBe(true);
    expect(contextFilter('secrets\n', 'Dockerfile').hasExceptions).toBe(false);
  });

  it('always sends the Dockerfile and .dockerignore, as the docker CLI does', () => {
    const f = contextFilter('*\n', 'docker/Dockerfile.dev');
    expect(f.excluded('docker/Dockerfile.dev')).toBe(false);
    expect(f.excluded('.dockerignore')).toBe(false);
    expect(f.excluded('Dockerfile')).toBe(true);
    expect(f.excluded('src/main.c')).toBe(true);
  });

  it('without a .dockerignore sends everything', () => {
    const f = contextFilter(undefined, 'Dockerfile');
    expect(f.excluded('.git/HEAD')).toBe(false);
  });
});

describe('buildHash', () => {
  const entries: ContextEntry[] = [
    { path: 'Dockerfile', type: 'file', mode: 0o644, digest: 'd1' },
    { path: 'site', type: 'dir', mode: 0o755 },
    { path: 'site/index.html', type: 'file', mode: 0o644, digest: 'd2' },
    { path: 'link', type: 'symlink', target: 'site' },
  ];
  const spec = { context: '/a/app', args: { A: '1' } };
  const base = buildHash(entries, spec);

  it('is a sha256 hex, independent of entry order and of where the context is', () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(buildHash([...entries].reverse(), spec)).toBe(base);
    expect(buildHash(entries, { ...spec, context: '/elsewhere/app' })).toBe(base);
  });

  it('changes with a file content, a mode, a path, a link target, or an added file', () => {
    const variants: ContextEntry[][] = [
      entries.map((e) => (e.path === 'site/index.html' ? { ...e, digest: 'd3' } : e)),
      entries.map((e) => (e.path === 'Dockerfile' ? { ...e, mode: 0o755 } : e)),
      entries.map((e) => (e.path === 'site/index.html' ? { ...e, path: 'site/other.html' } : e)),
      entries.map((e) => (e.type === 'symlink' ? { ...e, target: 'elsewhere' } : e)),
      [...entries, { path: 'new', type: 'file', mode: 0o644, digest: 'd4' }],
    ];
    const hashes = variants.map((v) => buildHash(v, spec));
    for (const h of hashes) expect(h).not.toBe(base);
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  it('changes with args, target and dockerfile; "./Dockerfile" is "Dockerfile"', () => {
    expect(buildHash(entries, { ...spec, args: { A: '2' } })).not.toBe(base);
    expect(buildHash(entries, { ...spec, args: {} })).not.toBe(base);
    expect(buildHash(entries, { ...spec, target: 'dev' })).not.toBe(base);
    expect(buildHash(entries, { ...spec, dockerfile: 'Dockerfile.dev' })).not.toBe(base);
    expect(buildHash(entries, { ...spec, dockerfile: './Dockerfile' })).toBe(base);
    expect(buildHash(entries, { ...spec, args: { A: '1' } })).toBe(base);
  });

  it('cannot be forged by a path holding a newline', () => {
    const a: ContextEntry[] = [{ path: 'x', type: 'file', mode: 0o644, digest: 'd' }];
    const b: ContextEntry[] = [{ path: 'x","420,"d"]\n["f","y', type: 'file', mode: 0o644, digest: 'd' }];
    expect(buildHash(a, spec)).not.toBe(buildHash(b, spec));
  });
});

describe('tags and paths', () => {
  it('tags vendetta-build/<workspace>:<first 12 hex>', () => {
    expect(buildTag('api', 'abcdef0123456789abcdef')).toBe('vendetta-build/api:abcdef012345');
  });
  it('normalises the dockerfile path', () => {
    expect(dockerfilePath({ context: '/c' })).toBe('Dockerfile');
    expect(dockerfilePath({ context: '/c', dockerfile: './docker/Dockerfile' })).toBe('docker/Dockerfile');
  });
});

describe('BuildLog and the failure message', () => {
  it('tracks the step, splits chunks into lines, keeps the last lines, and names the failing step', () => {
    const log = new BuildLog();
    expect(log.add({ stream: 'Step 1/3 : FROM busybox\n' })).toEqual(['Step 1/3 : FROM busybox']);
    expect(log.add({ stream: ' ---> 1234\nStep 2/3 : RUN make' })).toEqual([' ---> 1234']);
    expect(log.add({ stream: '\n' })).toEqual(['Step 2/3 : RUN make']);
    log.add({ stream: 'cc: error: no input files\n' });
    log.add({ errorDetail: { code: 2, message: "The command '/bin/sh -c make' returned a non-zero code: 2" }, error: 'ignored' });
    expect(log.step).toBe('Step 2/3 : RUN make');
    expect(log.error).toBe("The command '/bin/sh -c make' returned a non-zero code: 2");
    expect(buildFailureMessage('api', 'n1', log, log.error!)).toBe(
      "image build of workspace api on node n1 failed at Step 2/3 : RUN make: The command '/bin/sh -c make' returned a non-zero code: 2\n" +
        'last lines of the build output:\n  Step 1/3 : FROM busybox\n   ---> 1234\n  Step 2/3 : RUN make\n  cc: error: no input files',
    );
  });

  it('keeps only the last 15 lines', () => {
    const log = new BuildLog();
    for (let i = 1; i <= 40; i++) log.add({ stream: `line ${i}\n` });
    expect(log.lastLines()).toHaveLength(15);
    expect(log.lastLines()[14]).toBe('line 40');
  });

  it('says so when the build was refused before any step', () => {
    expect(buildFailureMessage('api', 'n1', new BuildLog(), 'dockerfile parse error line 2: unknown instruction: FOO')).toBe(
      'image build of workspace api on node n1 failed: dockerfile parse error line 2: unknown instruction: FOO',
    );
  });
});
