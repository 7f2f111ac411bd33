import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  convertDevcontainer,
  DevcontainerError,
  dnsLabel,
  lifecycleCommands,
  parseDevcontainerText,
  projectFolderOf,
  substitute,
  composeConverterFrom,
  type ComposeConverter,
} from '../../../src/convert/devcontainer.js';

const FIXTURES = resolve(__dirname, '../../fixtures/devcontainer');
const fixture = (name: string) => join(FIXTURES, name, '.devcontainer/devcontainer.json');
const convertFixture = (name: string, extra: Partial<Parameters<typeof convertDevcontainer>[1]> = {}) =>
  convertDevcontainer(readFileSync(fixture(name), 'utf8'), { file: fixture(name), environ: { HOME: '/home/me' }, ...extra });
const workspaceOf = (docs: Record<string, unknown>[]) => docs[0] as { metadata: { name: string }; spec: Record<string, any> };

describe('JSONC', () => {
  it('reads comments and trailing commas', () => {
    expect(parseDevcontainerText('// c\n{ /* x */ "image": "a", }', 'f.json')).toEqual({ image: 'a' });
  });
  it('says where a syntax error is (line:col)', () => {
    const text = '{\n  "image": "a",\n  "forwardPorts": [3000 3001]\n}';
    try {
      parseDevcontainerText(text, '/p/devcontainer.json');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DevcontainerError);
      expect((e as DevcontainerError).message).toMatch(/^\/p\/devcontainer\.json:3:25: not valid JSON \(with comments\): CommaExpected/);
    }
  });
  it('refuses a file that is not one object', () => {
    expect(() => parseDevcontainerText('[1]', 'f.json')).toThrow(/must hold one JSON object/);
  });
});

describe('variables', () => {
  const vars = {
    localWorkspaceFolder: '/home/me/proj',
    containerWorkspaceFolder: '/workspace',
    devcontainerId: 'abc',
    environ: { USER: 'me' },
    containerEnv: { PROJECT: 'proj' },
  };
  it('substitutes every spec variable', () => {
    expect(substitute('${localWorkspaceFolder}|${localWorkspaceFolderBasename}', vars)).toBe('/home/me/proj|proj');
    expect(substitute('${containerWorkspaceFolder}|${containerWorkspaceFolderBasename}', vars)).toBe('/workspace|workspace');
    expect(substitute('${localEnv:USER}|${localEnv:NOPE}|${localEnv:NOPE:dflt:with:colons}', vars)).toBe('me||dflt:with:colons');
    expect(substitute('${env:USER}', vars)).toBe('me');
    expect(substitute('${devcontainerId}', vars)).toBe('abc');
    expect(substitute('${containerEnv:PROJECT}', vars)).toBe('proj');
  });
  it('leaves what cannot be known, and shell variables, as written', () => {
    const unknown = new Set<string>();
    expect(substitute('${containerEnv:PATH}:/x ${HOME}', vars, unknown)).toBe('${containerEnv:PATH}:/x ${HOME}');
    expect([...unknown]).toEqual(['${containerEnv:PATH}']);
  });
});

describe('lifecycle command forms', () => {
  it('string, array (exec form, quoted) and object (parallel)', () => {
    const problems: string[] = [];
    expect(lifecycleCommands('npm ci', 'x', problems)).toEqual(['npm ci']);
    expect(lifecycleCommands(['echo', "it's", '$HOME'], 'x', problems)).toEqual([`echo 'it'\\''s' '$HOME'`]);
    expect(lifecycleCommands({ one: 'echo 1' }, 'x', problems)).toEqual(['echo 1']);
    expect(problems).toEqual([]);
    expect(lifecycleCommands(42, 'x', problems)).toBeUndefined();
    expect(problems).toEqual(['x: expected a string or a list of strings']);
  });
  it('the object form runs all, shows each output by name, and fails if one fails', () => {
    const [script] = lifecycleCommands({ a: 'echo A; sleep 0.2', b: ['sh', '-c', 'echo B; exit 3'] }, 'postCreateCommand', [])!;
    let out = '';
    let code = 0;
    try {
      execFileSync('sh', ['-c', script!], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      const err = e as { status: number; stdout: string; stderr: string };
      code = err.status;
      out = err.stdout + err.stderr;
    }
    expect(code).toBe(1);
    expect(out).toContain('[a] A');
    expect(out).toContain('[b] B');
    expect(out).toContain('postCreateCommand.b failed (exit 3)');
    expect(execFileSync('sh', ['-c', lifecycleCommands({ a: 'true', b: 'echo ok' }, 'k', [])![0]!], { encoding: 'utf8' })).toBe('[b] ok\n');
  });
});

describe('names and folders', () => {
  it('a DNS label from any folder name', () => {
    expect(dnsLabel('My Project')).toBe('my-project');
    expect(dnsLabel('__x__')).toBe('x');
    expect(dnsLabel('2024-app')).toBe('dc-2024-app');
  });
  it('the project folder is the parent of .devcontainer/', () => {
    expect(projectFolderOf('/p/.devcontainer/devcontainer.json')).toBe('/p');
    expect(projectFolderOf('/p/.devcontainer/python/devcontainer.json')).toBe('/p');
    expect(projectFolderOf('/p/.devcontainer.json')).toBe('/p');
  });
});

describe('mapping', () => {
  it('the spec\'s image example: image, forwardPorts on loopback, customizations warned', () => {
    const { documents, warnings } = convertFixture('image-only', { node: 'n1' });
    expect(documents).toHaveLength(1);
    const ws = workspaceOf(documents);
    expect(ws.metadata.name).toBe('image-only');
    expect(ws.spec).toEqual({
      node: 'n1',
      provider: 'docker',
      image: 'mcr.microsoft.com/devcontainers/typescript-node:0-18',
      source: { path: join(FIXTURES, 'image-only') },
      ports: ['127.0.0.1:3000:3000'],
    });
    expect(warnings).toEqual(['devcontainer.json: not supported, ignored: customizations']);
  });

  it('the full example: build, env, ports, mounts, runArgs, lifecycle; one warning names what is ignored', () => {
    const { documents, warnings } = convertFixture('dockerfile', { environ: { HOME: '/home/me', DVC_GREETING: undefined } });
    const ws = workspaceOf(documents);
    const project = join(FIXTURES, 'dockerfile');
    expect(ws.metadata.name).toBe('dockerfile');
    expect(ws.spec.build).toEqual({ context: project, dockerfile: '.devcontainer/Dockerfile', args: { VARIANT: '18', USER_HOME: '/home/me' }, target: 'dev' });
    expect(ws.spec.image).toBeUndefined();
    expect(ws.spec.env).toEqual({
      PROJECT: 'dockerfile',
      EDITOR_DIR: '/workspace/.editor',
      GREETING: 'hello:world',
      FROM_CONTAINER: 'dockerfile-remote',
      FROM_RUNARGS: '1',
    });
    expect(ws.spec.ports).toEqual(['127.0.0.1:3000:3000', '127.0.0.1:8080:8080', '127.0.0.1:9000:9000', '7000:7000']);
    expect(ws.spec.volumes).toEqual([
      { name: 'dockerfile-node-modules', path: '/workspace/node_modules' },
      { name: 'dvc-cache', path: '/cache' },
    ]);
    expect(ws.spec.lifecycle.onCreate).toEqual(['echo created >> /tmp/hooks']);
    expect(ws.spec.lifecycle.postCreate).toEqual([`sh -c 'echo '\\''post create'\\'' $HOME'`]);
    expect(ws.spec.lifecycle.postStart).toHaveLength(1);
    expect(ws.spec.lifecycle.postStart[0]).toContain("mysql -u root -p 'my database'");
    expect(ws.spec.lifecycle.postAttach).toEqual(['echo attached']);
    // remoteUser alone: the container's user too (one user per workspace).
    expect(ws.spec.user).toBe('node');
    expect(warnings[0]).toBe(
      'devcontainer.json: not supported, ignored: features, hostRequirements, mounts (bind /home/me/.ssh:/root/.ssh), runArgs --cap-add, runArgs --privileged',
    );
    expect(warnings.slice(1)).toEqual([
      'devcontainer.json: remoteEnv.PATH_EXTRA uses ${containerEnv:PATH}, which is only known inside the running container: left out; set it in a lifecycle command or the image',
    ]);
  });

  it('the spec\'s Compose example goes through the compose converter, with the devcontainer settings on its service', () => {
    const calls: unknown[] = [];
    const compose: ComposeConverter = (opts) => {
      calls.push(opts);
      return {
        documents: [
          { apiVersion: 'vendetta.dev/v1alpha1', kind: 'Workspace', metadata: { name: 'the-name-of-the-service-you-want-to-work-with-in-vscode' }, spec: { provider: 'docker', image: 'x' } },
          { apiVersion: 'vendetta.dev/v1alpha1', kind: 'Workspace', metadata: { name: 'db' }, spec: { provider: 'docker', image: 'postgres:16' } },
        ],
        warnings: ['compose: something'],
      };
    };
    const { documents, warnings } = convertFixture('compose', { compose, node: 'n2' });
    expect(calls).toEqual([{ files: [join(FIXTURES, 'compose/docker-compose.yml')], services: ['the-name-of-the-service-you-want-to-work-with-in-vscode', 'db'], node: 'n2' }]);
    expect(documents).toHaveLength(2);
    const main = workspaceOf(documents);
    expect(main.spec.lifecycle).toEqual({ postCreate: ['echo ready'] });
    expect(main.spec.ports).toEqual(['127.0.0.1:5000:5000']);
    expect(warnings).toEqual(['compose: something']);
  });

  it('without a compose converter, the Compose form is a clear error', () => {
    expect(() => convertFixture('compose')).toThrow(/dockerComposeFile: this vendetta cannot convert Compose files yet/);
  });

  it('bad values are errors that name the key', () => {
    const conv = (text: string) => () => convertDevcontainer(text, { file: '/p/.devcontainer/devcontainer.json', environ: {} });
    expect(conv('{}')).toThrow(/needs "image", "build.dockerfile" or "dockerComposeFile"/);
    expect(conv('{"image": "a", "containerEnv": {"A": 1}}')).toThrow(/containerEnv.A must be a string/);
    expect(conv('{"image": "a", "forwardPorts": ["x y"]}')).toThrow(/forwardPorts "x y": not a port/);
    expect(conv('{"image": "a", "mounts": ["source=x"]}')).toThrow(/needs a target/);
    expect(conv('{"build": {"dockerfile": "../../Dockerfile"}}')).toThrow(/outside the build context/);
  });

  it('mapping errors point at the key, line:col in the file as written', () => {
    const conv = (text: string) => () => convertDevcontainer(text, { file: '/p/.devcontainer/devcontainer.json', environ: {} });
    expect(conv('{\n  // ports\n  "image": "a",\n  "forwardPorts": [3000, "x y"],\n}')).toThrow(/^\/p\/.devcontainer\/devcontainer.json:4:26: forwardPorts "x y": not a port/);
    expect(conv('{"image": "a",\n "containerEnv": {\n   "A": 1}}')).toThrow(/devcontainer.json:3:9: containerEnv.A must be a string/);
    expect(conv('{"image": "a",\n "postCreateCommand": 7}')).toThrow(/devcontainer.json:2:23: postCreateCommand: expected a string or a list of strings/);
    expect(conv('{"image": "a", "mounts": [\n  "type=volume"]}')).toThrow(/devcontainer.json:2:3: mounts entry "type=volume": needs a target/);
  });

  it('containerUser, else remoteUser, is spec.user; a different remoteUser and a value that is no user are named', () => {
    const conv = (text: string) => convertDevcontainer(text, { file: '/p/.devcontainer/devcontainer.json', environ: {} });
    const userOf = (r: ReturnType<typeof conv>) => workspaceOf(r.documents).spec.user;
    expect(userOf(conv('{"image": "a", "containerUser": "1000:1000"}'))).toBe('1000:1000');
    expect(userOf(conv('{"image": "a", "remoteUser": "vscode"}'))).toBe('vscode');
    const both = conv('{"image": "a", "containerUser": "app", "remoteUser": "vscode"}');
    expect(userOf(both)).toBe('app');
    expect(both.warnings).toEqual(['devcontainer.json: not supported, ignored: remoteUser ("vscode": vendetta runs sessions and lifecycle commands as containerUser "app")']);
    const bad = conv('{"image": "a", "containerUser": "me; rm -rf /", "remoteUser": "dev"}');
    expect(userOf(bad)).toBe('dev');
    expect(bad.warnings).toEqual(['devcontainer.json: not supported, ignored: containerUser ("me; rm -rf /": not a user name, uid or "uid:gid")']);
    expect(userOf(conv('{"image": "a"}'))).toBeUndefined();
  });

  it('nothing unmapped is dropped silently: every unknown key is named', () => {
    const { warnings } = convertDevcontainer('{"image": "a", "waitFor": "x", "userEnvProbe": "none", "init": true, "overrideCommand": false}', {
      file: '/p/devcontainer.json',
      environ: {},
    });
    expect(warnings).toEqual(['devcontainer.json: not supported, ignored: waitFor, userEnvProbe, init']);
  });

  it('the old top-level dockerFile form and an image name override', () => {
    const { documents } = convertDevcontainer('{"dockerFile": "Dockerfile"}', { file: '/p/.devcontainer/devcontainer.json', environ: {}, name: 'dvc-x' });
    const ws = workspaceOf(documents);
    expect(ws.metadata.name).toBe('dvc-x');
    expect(ws.spec.build).toEqual({ context: '/p/.devcontainer', dockerfile: 'Dockerfile' });
  });
});

describe('containerEnv in lifecycle commands', () => {
  it('becomes the shell variable it is inside the container', () => {
    const { documents, warnings } = convertDevcontainer('{"image": "a", "postCreateCommand": "echo ${containerEnv:PATH} ${containerEnv:A}", "containerEnv": {"A": "x"}}', {
      file: '/p/devcontainer.json',
      environ: {},
    });
    expect(workspaceOf(documents).spec.lifecycle).toEqual({ postCreate: ['echo ${PATH} x'] });
    expect(warnings).toEqual([]);
  });
});

describe('composeConverterFrom (the adapter over src/convert/compose.ts)', () => {
  const doc = (kind: string, name: string, service: string) => ({ apiVersion: 'vendetta.dev/v1alpha1', kind, metadata: { name, labels: { 'vendetta.dev/compose-service': service } }, spec: {} });
  const fake = (text: string, opts: { file: string; node?: string }) => ({
    documents: [doc('Workspace', 'p-app', 'app'), doc('Service', 'p-app', 'app'), doc('Workspace', 'p-db', 'db'), doc('Workspace', 'p-cache', 'cache')],
    warnings: [`read ${text} from ${opts.file} for ${opts.node}`],
  });
  it('reads the one file, keeps the runServices, finds the service by label', () => {
    const compose = composeConverterFrom(fake, (p) => `<${p}>`, {});
    const dc = '{"dockerComposeFile": "compose.yml", "service": "app", "runServices": ["db"], "postStartCommand": "x"}';
    const { documents, warnings } = convertDevcontainer(dc, { file: '/p/.devcontainer/devcontainer.json', environ: {}, compose, node: 'n1' });
    expect(documents.map((d) => `${d.kind}/${(d.metadata as { name: string }).name}`)).toEqual(['Workspace/p-app', 'Service/p-app', 'Workspace/p-db']);
    expect((documents[0]!.spec as Record<string, unknown>).lifecycle).toEqual({ postStart: ['x'] });
    expect(warnings).toEqual(['read </p/.devcontainer/compose.yml> from /p/.devcontainer/compose.yml for n1']);
  });
  it('containerUser goes onto the service\'s workspace only', () => {
    const compose = composeConverterFrom(fake, () => '', {});
    const dc = '{"dockerComposeFile": "compose.yml", "service": "app", "runServices": ["db"], "containerUser": "1000:1000"}';
    const { documents } = convertDevcontainer(dc, { file: '/p/.devcontainer/devcontainer.json', environ: {}, compose, node: 'n1' });
    expect((documents[0]!.spec as Record<string, unknown>).user).toBe('1000:1000');
    expect((documents[2]!.spec as Record<string, unknown>).user).toBeUndefined();
  });
  it('several Compose files are an error naming the count', () => {
    const compose = composeConverterFrom(fake, () => '', {});
    const dc = '{"dockerComposeFile": ["a.yml", "b.yml"], "service": "app"}';
    expect(() => convertDevcontainer(dc, { file: '/p/devcontainer.json', environ: {}, compose })).toThrow(/dockerComposeFile: 2 files are listed: vendetta converts one Compose file/);
  });
});

describe('image and build both set', () => {
  it('build makes the image; image is named in a note', () => {
    const { documents, warnings } = convertDevcontainer('{"image": "a", "build": {"dockerfile": "Dockerfile"}}', { file: '/p/.devcontainer/devcontainer.json', environ: {} });
    expect(workspaceOf(documents).spec.image).toBeUndefined();
    expect(warnings).toEqual(['devcontainer.json: image "a" is not used: build makes the image']);
  });
});
