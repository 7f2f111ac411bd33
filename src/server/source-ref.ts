// How a workspace's source.path travels to a server that cannot read the client's disk: the
// client uploads the tree as a tar named by its SHA-256 (./upload.ts), and marks the workspace
// with that digest in an annotation. Pure; shared by the client and the server (./sources.ts).
//
// An annotation, not a spec field: the spec (and so the spec hash, the plan, `describe`) keeps
// the path as the user wrote it, so applying through a server or embedded makes the same
// workspace, and new content alone recreates nothing (as in embedded mode: `sync` sends it).
import type { Resource, WorkspaceResource } from '../model/types.js';

export const SOURCE_DIGEST_ANNOTATION = 'vendetta.dev/source-digest';

const DIGEST = /^sha256:([0-9a-f]{64})$/;

/** "sha256:<hex>" → hex, or undefined when malformed. */
export function digestHex(digest: string): string | undefined {
  return DIGEST.exec(digest)?.[1];
}

/** A workspace whose source.path is a directory on the client (not on the node): what gets uploaded. */
export function uploadedPath(r: Resource): string | undefined {
  if (r.kind !== 'Workspace') return undefined;
  const source = r.spec.source;
  return source?.path !== undefined && !source.onNode ? source.path : undefined;
}

/** The digest a workspace was uploaded as, if any. */
export function sourceDigestOf(ws: WorkspaceResource): string | undefined {
  return ws.metadata.annotations?.[SOURCE_DIGEST_ANNOTATION];
}

/**
 * Copies of the resources with each uploaded workspace annotated with its tree's digest
 * (`digests`: source.path → "sha256:…"). The originals (the user's loaded manifests) are untouched.
 */
export function withSourceDigests(resources: Resource[], digests: ReadonlyMap<string, string>): Resource[] {
  return resources.map((r) => {
    const path = uploadedPath(r);
    const digest = path === undefined ? undefined : digests.get(path);
    if (digest === undefined) return r;
    const annotations = { ...(r.metadata.annotations ?? {}), [SOURCE_DIGEST_ANNOTATION]: digest };
    return { ...r, metadata: { ...r.metadata, annotations } } as Resource;
  });
}
