// Image builds on the node (spec.build): the context goes over the node's one SSH connection as
// the body of POST /build (the classic builder: Debian's docker.io 20.10 has no BuildKit session
// over this socket), and the result is tagged vendetta-build/<workspace>:<hash12>. A tag that
// already exists with our labels is that exact build: nothing is sent.
//
// Cleanup: after a build, the workspace's older tags on this node go (the image it replaced is
// not used by anything of ours any more: a recreate removed its container first). Deleting the
// workspace (delete, prune, a move) removes all of them. A recreate (delete with `replacing`,
// then create) keeps the tag: for another reason than its build (a port, env) it builds nothing.
import type Docker from 'dockerode';
import { BuildLog, buildFailureMessage, buildRepository, dockerfilePath, type BuildMessage } from '../../model/build.js';
import { ProviderError, type DesiredWorkspace, type DriverContext } from '../types.js';
import { dockerGet } from './client.js';
import { LABEL_BUILD_HASH, LABEL_KIND, LABEL_MANAGED, LABEL_NODE, LABEL_OWNER, LABEL_WORKSPACE, MANAGED_SELECTOR, describeDockerError, statusCode } from './spec.js';

/** LABEL_KIND of the images we build. */
export const IMAGE_KIND = 'Image';

export interface BuildIo {
  docker: Docker;
  socket: string;
  node: string;
}

/** Labels of a built image: whose it is, so cleanup removes only ours. */
export function builtImageLabels(ws: DesiredWorkspace): Record<string, string> {
  return {
    [LABEL_MANAGED]: 'true',
    [LABEL_KIND]: IMAGE_KIND,
    [LABEL_NODE]: ws.resource.spec.node,
    [LABEL_WORKSPACE]: ws.resource.metadata.name,
    [LABEL_OWNER]: ws.owner.id,
    [LABEL_BUILD_HASH]: ws.build!.hash,
  };
}

/** The query of POST /build (dockerode JSON-encodes the maps). */
export function buildOptions(ws: DesiredWorkspace): Record<string, unknown> {
  const spec = ws.resource.spec.build!;
  return {
    t: ws.build!.tag,
    dockerfile: dockerfilePath(spec),
    ...(spec.args && Object.keys(spec.args).length > 0 ? { buildargs: spec.args } : {}),
    ...(spec.target ? { target: spec.target } : {}),
    labels: builtImageLabels(ws),
    // Intermediate containers go, also after a failed step.
    rm: true,
    forcerm: true,
    // The classic builder (BuildKit would need a session this connection does not carry).
    version: '1',
  };
}

/** Makes sure the workspace's image is on the node; returns its tag. Builds only when missing. */
export async function ensureBuiltImage(ctx: DriverContext, io: BuildIo, ws: DesiredWorkspace): Promise<string> {
  const { tag, hash } = ws.build!;
  const name = ws.resource.metadata.name;
  if (await isBuilt(ctx, io, tag, hash)) return tag;
  const spec = ws.resource.spec.build!;
  ctx.progress?.(`building image ${tag} on node ${io.node} from ${spec.context}`);
  const { contextTar } = await import('../../build/context.js');
  const log = new BuildLog();
  let stream: NodeJS.ReadableStream;
  try {
    stream = await io.docker.buildImage(contextTar(spec), buildOptions(ws) as Docker.ImageBuildOptions);
  } catch (err) {
    // Refused before any step ran (a Dockerfile that does not parse, an unknown target).
    throw new ProviderError(buildFailureMessage(name, io.node, log, describeDockerError(err)), buildHint(spec.dockerfile), true, { cause: err });
  }
  await readBuildStream(stream, (message) => {
    for (const line of log.add(message)) ctx.progress?.(`build: ${line}`);
  }).catch((err: unknown) => {
    throw new ProviderError(`image build of workspace ${name} on node ${io.node}: the build output broke off: ${(err as Error).message}`, undefined, false, { cause: err });
  });
  if (log.error !== undefined) throw new ProviderError(buildFailureMessage(name, io.node, log, log.error), buildHint(spec.dockerfile), true);
  await removeBuiltImages(ctx, io, name, tag);
  return tag;
}

function buildHint(dockerfile: string | undefined): string {
  return `fix ${dockerfile ?? 'the Dockerfile'} (or what it runs), then apply again; FROM images must already be on the node (no registry is used)`;
}

/** Is the tag there, built by us from this hash? A foreign image of that name is built over. */
async function isBuilt(ctx: DriverContext, io: BuildIo, tag: string, hash: string): Promise<boolean> {
  try {
    const info = await dockerGet<{ Config?: { Labels?: Record<string, string> | null } }>(ctx.transport, io.socket, `/images/${encodeURIComponent(tag)}/json`);
    const labels = info.Config?.Labels ?? {};
    return labels[LABEL_MANAGED] === 'true' && labels[LABEL_BUILD_HASH] === hash;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw new Error(`docker inspect of image ${tag} on node ${io.node} failed: ${describeDockerError(err)}`, { cause: err });
  }
}

/** Reads POST /build's stream of JSON messages (one per line; a line may span chunks). */
function readBuildStream(stream: NodeJS.ReadableStream, onMessage: (m: BuildMessage) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const take = (line: string) => {
      if (!line.trim()) return;
      try {
        onMessage(JSON.parse(line) as BuildMessage);
      } catch {
        onMessage({ stream: `${line}\n` });
      }
    };
    stream.on('data', (chunk: Buffer | string) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      lines.forEach(take);
    });
    stream.on('end', () => {
      take(buffered);
      resolve();
    });
    stream.on('error', reject);
  });
}

/**
 * Removes the workspace's built tags on this node, but `keep`. By tag, never by id: an image that
 * also carries another tag keeps it. Best effort: an image still used by a container stays
 * (docker refuses), and the next build's cleanup tries again.
 */
export async function removeBuiltImages(ctx: DriverContext, io: BuildIo, workspace: string, keep?: string): Promise<void> {
  const filters = { label: [MANAGED_SELECTOR, `${LABEL_KIND}=${IMAGE_KIND}`, `${LABEL_NODE}=${io.node}`, `${LABEL_WORKSPACE}=${workspace}`] };
  let images: Array<{ RepoTags?: string[] | null }>;
  try {
    images = await dockerGet(ctx.transport, io.socket, `/images/json?filters=${encodeURIComponent(JSON.stringify(filters))}`);
  } catch {
    return;
  }
  const ours = `${buildRepository(workspace)}:`;
  const tags = images.flatMap((i) => i.RepoTags ?? []).filter((t) => t.startsWith(ours) && t !== keep);
  await Promise.all(tags.map((t) => io.docker.getImage(t).remove().catch(() => undefined)));
}
