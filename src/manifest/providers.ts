// Which Workspace fields each provider honours. A field the chosen provider would ignore is an
// error: a process workspace with spec.ports once validated, printed an endpoint, and nothing
// listened there. Pure; the matrix is documented in docs/manifest-reference.md.
import type { DocPath, Issue } from './locate.js';

type Provider = 'process' | 'docker' | 'lxc' | 'qemu';
const PROVIDERS: readonly Provider[] = ['process', 'docker', 'lxc', 'qemu'];

interface Rule {
  path: DocPath;
  supported: readonly Provider[];
  /** What to do instead, for a provider without support. */
  hint: (provider: Provider) => string;
  /** A value that means nothing to the providers without support, so it is harmless there. */
  allowed?: (value: unknown, provider: Provider) => boolean;
}


const RULES: Rule[] = [
  {
    path: ['image'],
    supported: ['docker', 'lxc', 'qemu'],
    hint: () => 'a process workspace runs on the node itself, there is no image; remove spec.image or use provider docker, lxc or qemu',
  },
  {
    path: ['pull'],
    supported: ['docker'],
    // "missing" is the default (withDefaults writes it, and wire.ts re-validates defaulted resources).
    allowed: (value) => value === 'missing',
    hint: (p) =>
      p === 'lxc'
        ? 'lxc fetches a remote image on first use and never re-pulls; remove spec.pull or set it to missing'
        : p === 'qemu'
          ? 'a qemu image is a disk image path on the node, nothing is pulled; remove spec.pull'
          : 'a process workspace has no image; remove spec.pull',
  },
  ...(['cpus', 'memory'] as const).map(
    (field): Rule => ({
      path: ['resources', field],
      supported: ['docker', 'lxc', 'qemu'],
      hint: () => `process workspaces are not limited; remove spec.resources.${field} or use provider docker, lxc or qemu`,
    }),
  ),
  {
    path: ['resources', 'disk'],
    supported: ['lxc', 'qemu'],
    hint: (p) =>
      p === 'docker'
        ? 'a docker container has no disk size of its own; remove spec.resources.disk or use provider lxc or qemu'
        : 'process workspaces are not limited; remove spec.resources.disk or use provider lxc or qemu',
  },
  {
    path: ['ports'],
    supported: ['docker', 'lxc', 'qemu'],
    hint: () =>
      "a process workspace publishes nothing: its services listen on the node's own ports directly; remove spec.ports, or use provider docker, lxc or qemu to publish ports",
  },
  {
    path: ['network'],
    supported: ['docker'],
    hint: () => 'spec.network chooses a docker network; remove it or use provider docker',
  },
  {
    path: ['user'],
    supported: ['docker'],
    hint: (p) =>
      p === 'qemu'
        ? 'spec.user sets a docker container\'s user; for a virtual machine use spec.vm.user, or remove spec.user'
        : 'spec.user sets a docker container\'s user; remove it or use provider docker',
  },
  {
    path: ['build'],
    supported: ['docker'],
    hint: () => 'only the docker provider builds images; remove spec.build, or use provider docker',
  },
  {
    path: ['source', 'onNode'],
    supported: ['lxc'],
    allowed: (value) => value === false,
    hint: () => 'only lxc workspaces mount a node directory (a disk device); remove spec.source.onNode to copy the source in',
  },
  {
    path: ['vm'],
    supported: ['qemu'],
    hint: () => 'spec.vm configures qemu virtual machines only; remove it or use provider qemu',
  },
];

/** Issues for the fields of a Workspace's spec that its provider would not honour. */
export function providerSupportIssues(doc: Record<string, unknown>, subject: string): Issue[] {
  const spec = doc.spec as Record<string, unknown> | undefined;
  const provider = PROVIDERS.find((p) => p === spec?.provider);
  if (!spec || typeof spec !== 'object' || provider === undefined) return [];
  const issues: Issue[] = [];
  for (const rule of RULES) {
    if (rule.supported.includes(provider)) continue;
    const value = valueAt(spec, rule.path);
    if (value === undefined || rule.allowed?.(value, provider)) continue;
    const field = `spec.${rule.path.join('.')}`;
    issues.push({
      path: ['spec', ...rule.path],
      part: 'key',
      message: `${subject}: provider ${provider} does not support ${field} (${rule.hint(provider)})`,
    });
  }
  return issues;
}

function valueAt(value: unknown, path: DocPath): unknown {
  let node = value;
  for (const segment of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}
