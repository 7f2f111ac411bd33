// Workspace volumes: data that outlives every recreate of its workspace. Pure rules shared by the
// manifest checks, the spec hash, the drivers and the planner's warnings.
import { posix } from 'node:path';
import type { ProviderName, VolumeSpec, WorkspaceSpec } from './types.js';

/** Does this workspace keep data in volumes? (What a recreate keeps: see docs/concepts.md#volumes.) */
export function hasVolumes(spec: Pick<WorkspaceSpec, 'volumes'>): boolean {
  return (spec.volumes?.length ?? 0) > 0;
}

/**
 * Where a volume appears inside the workspace: an absolute path as written (normalized), a
 * relative one under the workspace directory ("/workspace" in containers and VMs, the workspace's
 * own directory on the node for process).
 */
export function volumeMountPath(path: string, workspaceDir: string): string {
  return posix.isAbsolute(path) ? posix.normalize(path).replace(/(.)\/+$/, '$1') : posix.join(workspaceDir, path).replace(/\/+$/, '');
}

/**
 * What of the volumes enters the workspace's spec hash: which volumes are mounted where. Not the
 * size: it applies when a volume is made, so changing it alone recreates nothing. Absent when
 * there are none, so a workspace without volumes keeps the hash it had before volumes existed.
 */
export function volumesHashPart(volumes: VolumeSpec[] | undefined): { name: string; path: string }[] | undefined {
  if (!volumes || volumes.length === 0) return undefined;
  return volumes.map((v) => ({ name: v.name, path: v.path })).sort((a, b) => a.name.localeCompare(b.name));
}

/** Does the provider hold a volume to its size? docker's local driver and process directories do not. */
export function sizeEnforced(provider: ProviderName): boolean {
  return provider === 'lxc' || provider === 'qemu';
}

/** "data:/data(1Gi),cache:.cache": a workspace's volumes and declared sizes in one table cell. */
export function volumesCell(volumes: VolumeSpec[] | undefined): string | undefined {
  return volumes?.length ? volumes.map((v) => `${v.name}:${v.path}${v.size ? `(${v.size})` : ''}`).join(',') : undefined;
}

/** A problem with one volume: which entry, which field, what to do. */
export interface VolumeIssue {
  index: number;
  field: 'name' | 'path';
  message: string;
}

// Where relative paths are compared: any fixed directory works, the check is about overlaps.
const COMPARE_DIR = '/workspace';

/**
 * Checks the schema cannot express: unique names, usable paths (absolute only where the
 * workspace has a filesystem of its own), no two volumes on one path or one inside another.
 * Entries with the wrong shape are skipped: the schema reports them.
 */
export function volumeIssues(volumes: unknown, provider: ProviderName | undefined): VolumeIssue[] {
  if (!Array.isArray(volumes)) return [];
  const issues: VolumeIssue[] = [];
  const names = new Map<string, number>();
  const paths: { index: number; path: string; written: string }[] = [];
  volumes.forEach((v: unknown, index) => {
    if (v === null || typeof v !== 'object') return;
    const { name, path } = v as { name?: unknown; path?: unknown };
    if (typeof name === 'string') {
      const first = names.get(name);
      if (first !== undefined) {
        issues.push({ index, field: 'name', message: `volume name ${JSON.stringify(name)} is already used by spec.volumes[${first}]; give each volume its own name` });
      } else names.set(name, index);
    }
    if (typeof path !== 'string' || path === '') return;
    const problem = pathProblem(path, provider);
    if (problem) {
      issues.push({ index, field: 'path', message: problem });
      return;
    }
    const mount = volumeMountPath(path, COMPARE_DIR);
    for (const other of paths) {
      const clash =
        other.path === mount ? 'is the same path as' : mount.startsWith(`${other.path}/`) ? 'is inside' : other.path.startsWith(`${mount}/`) ? 'contains' : undefined;
      if (clash) {
        issues.push({
          index,
          field: 'path',
          message: `path ${JSON.stringify(path)} ${clash} spec.volumes[${other.index}].path ${JSON.stringify(other.written)}; give each volume a path of its own, not nested in another`,
        });
        return;
      }
    }
    paths.push({ index, path: mount, written: path });
  });
  return issues;
}

function pathProblem(path: string, provider: ProviderName | undefined): string | undefined {
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.includes('..')) return `path ${JSON.stringify(path)} may not contain ".."; write it without going up, e.g. "data" or "/var/lib/data"`;
  if (provider === 'process' && posix.isAbsolute(path)) {
    return `path ${JSON.stringify(path)} must be relative for provider process (a process workspace has no filesystem of its own): write it relative to the workspace directory, e.g. "data"`;
  }
  if (segments.filter((s) => s !== '.').length === 0) {
    return posix.isAbsolute(path)
      ? `path ${JSON.stringify(path)} would hide the whole filesystem; use a directory, e.g. "/var/lib/data"`
      : `path ${JSON.stringify(path)} is the workspace directory itself; use a directory inside it, e.g. "data"`;
  }
  if (path.includes('\0') || /[\n\r]/.test(path)) return `path ${JSON.stringify(path)} may not contain line breaks or NUL`;
  return undefined;
}
