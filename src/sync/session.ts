// Syncing an applied workspace from the CLI (`vendetta sync`, `apply --watch`): the workspace's
// record in the store gives its node and source.path; a batch is pushed through its runtime
// (src/sync/push.ts), then the services that declared `onSync: restart` are restarted.
import { watch, type FSWatcher } from 'chokidar';
import { relative, sep } from 'node:path';
import type { NodeResource, ServiceResource, WorkspaceResource } from '../model/types.js';
import type { WorkspaceRuntime } from '../providers/types.js';
import { createServiceManager } from '../services/manager.js';
import type { Store } from '../store/types.js';
import { SourceSync, syncRecordPath, type SyncOutcome } from './push.js';

/** An applied workspace and how to run things in it (the CLI opens it: cli/runtime.ts). */
export interface OpenedWorkspace {
  workspace: WorkspaceResource;
  node: NodeResource;
  runtime: WorkspaceRuntime;
}
export type OpenWorkspace = (name: string) => Promise<OpenedWorkspace>;

/** A workspace with nothing to sync: the CLI prints the message and the hint. */
export class NothingToSync extends Error {
  readonly hint = 'set spec.source.path in its manifest and apply';
}

export interface SyncBatch {
  workspace: string;
  outcome: SyncOutcome;
  ms: number;
  /** Services restarted after the batch (onSync: restart). */
  restarted: string[];
  /**
   * Services of the workspace that ask for it to be rebuilt after a batch (onSync: rebuild). The
   * syncer only reports them: replacing a workspace takes the engine (apply --watch does it).
   */
  rebuildFor: string[];
}

/** Pure: the line a batch prints, e.g. "synced 3 files, deleted 1 to api (42 ms), restarted web". */
export function describeBatch(b: SyncBatch): string {
  const { sent, deleted, full } = b.outcome;
  const files = `${sent} file${sent === 1 ? '' : 's'}`;
  const parts = [`synced ${files}${deleted ? `, deleted ${deleted}` : ''} to ${b.workspace}${full ? ' (full)' : ''} (${b.ms} ms)`];
  if (b.restarted.length) parts.push(`restarted ${b.restarted.join(', ')}`);
  if (b.rebuildFor.length) parts.push(`rebuild asked by ${b.rebuildFor.join(', ')}`);
  return parts.join(', ');
}

/** Debounce window of a watcher: events within it go in one batch. */
export const BATCH_MS = 50;

/** One workspace kept in step with its source.path. Runs are serialized by the caller. */
export class WorkspaceSyncer {
  private handle: OpenedWorkspace | undefined;
  private sync: SourceSync | undefined;

  constructor(
    private readonly store: Store,
    private readonly openWorkspace: OpenWorkspace,
    readonly name: string,
    private readonly home: string,
  ) {}

  get source(): string | undefined {
    return this.sync?.source;
  }

  get excludedDirs(): string[] {
    return this.sync?.excludedDirs ?? [];
  }

  private async open(): Promise<SourceSync> {
    const handle = await this.openWorkspace(this.name);
    const path = handle.workspace.spec.source?.path;
    if (path === undefined) {
      throw new NothingToSync(`workspace "${this.name}" has no spec.source.path: there is nothing to sync`);
    }
    if (handle.workspace.spec.source?.onNode) {
      throw new NothingToSync(`workspace "${this.name}" mounts its source from the node (spec.source.onNode): its files are the node's, there is nothing to sync`);
    }
    // A new handle (the workspace may have been recreated): the record still tells what was sent.
    const where = `workspace ${this.name} on node ${handle.node.metadata.name}`;
    if (!this.sync || this.sync.source !== path) this.sync = new SourceSync(path, handle.runtime, syncRecordPath(this.home, this.name), where);
    else this.sync.retarget(handle.runtime);
    this.handle = handle;
    return this.sync;
  }

  /** One batch. `verify`: exec even when nothing changed here (one-shot sync, a watcher's start). */
  async run(opts: { verify?: boolean } = {}): Promise<SyncBatch> {
    const started = Date.now();
    let outcome: SyncOutcome;
    if (!this.handle) {
      outcome = await (await this.open()).run(opts);
    } else {
      try {
        outcome = await this.sync!.run(opts);
      } catch {
        // The runtime may be stale (a container recreated under us): open it again, once.
        this.handle = undefined;
        outcome = await (await this.open()).run(opts);
      }
    }
    const changed = outcome.sent > 0 || outcome.deleted > 0;
    const restarted = changed ? await this.restartServices() : [];
    const rebuildFor = changed ? await this.servicesWith('rebuild') : [];
    return { workspace: this.name, outcome, ms: Date.now() - started, restarted, rebuildFor };
  }

  private async servicesWith(action: 'restart' | 'rebuild'): Promise<string[]> {
    return (await this.store.list('Service'))
      .map((r) => r.resource as ServiceResource)
      .filter((s) => s.spec.workspace === this.name && s.spec.onSync === action)
      .map((s) => s.metadata.name)
      .sort();
  }

  private async restartServices(): Promise<string[]> {
    const services = await this.servicesWith('restart');
    if (services.length === 0) return [];
    const manager = createServiceManager(this.handle!.runtime);
    await Promise.all(services.map((s) => manager.restart(s)));
    return services;
  }
}

/**
 * Watches a syncer's source.path and pushes each batch of changes: the first event opens a
 * BATCH_MS window, everything in it goes in one run; events during a run make one more run.
 * Call after a first run (which found what to leave unwatched: .git and ignored directories).
 */
export function watchSource(
  syncer: WorkspaceSyncer,
  report: { batch(b: SyncBatch): void; error(err: Error): void },
): { close(): Promise<void> } {
  const root = syncer.source!;
  const skipped = (path: string) => {
    const rel = relative(root, path).split(sep).join('/');
    if (rel === '' || rel.startsWith('..')) return false;
    if (rel.split('/').includes('.git')) return true;
    return syncer.excludedDirs.some((d) => rel === d || rel.startsWith(`${d}/`));
  };
  // atomic: false: an editor's rename-into-place is just more events; every run rescans anyway.
  const watcher: FSWatcher = watch(root, { ignoreInitial: true, atomic: false, ignored: skipped });
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  let closed = false;
  const runNow = async () => {
    timer = undefined;
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const b = await syncer.run();
      if (!b.outcome.unchanged) report.batch(b);
    } catch (err) {
      report.error(err as Error);
    } finally {
      running = false;
    }
    if (again && !closed) {
      again = false;
      void runNow();
    }
  };
  watcher.on('all', () => {
    if (!timer) timer = setTimeout(() => void runNow(), BATCH_MS);
  });
  watcher.on('error', (err) => report.error(err as Error));
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await watcher.close();
    },
  };
}
