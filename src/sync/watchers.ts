// The source watchers of `apply --watch`: one per workspace of the set in force that has a
// source.path, started after the apply that made it, closed when it leaves the set.
import type { WorkspaceResource } from '../model/types.js';
import type { Store } from '../store/types.js';
import { describeBatch, watchSource, WorkspaceSyncer, type OpenWorkspace, type SyncBatch } from './session.js';

interface Running {
  path: string;
  close(): Promise<void>;
}

export class SourceWatchers {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly store: Store,
    private readonly openWorkspace: OpenWorkspace,
    private readonly home: string,
    private readonly report: { batch(line: string, data: SyncBatch): void; error(line: string): void },
  ) {}

  /** Watch exactly these workspaces' sources (those with a source.path). */
  async follow(workspaces: Iterable<WorkspaceResource>): Promise<void> {
    const wanted = new Map<string, string>();
    // onNode: the workspace mounts the node's directory; nothing on this machine to watch.
    for (const ws of workspaces) if (ws.spec.source?.path !== undefined && !ws.spec.source.onNode) wanted.set(ws.metadata.name, ws.spec.source.path);
    for (const [name, r] of [...this.running]) {
      if (wanted.get(name) === r.path) continue;
      this.running.delete(name);
      await r.close();
    }
    await Promise.all([...wanted].filter(([name]) => !this.running.has(name)).map(([name, path]) => this.start(name, path)));
  }

  private async start(name: string, path: string): Promise<void> {
    const syncer = new WorkspaceSyncer(this.store, this.openWorkspace, name, this.home);
    try {
      // Brings the workspace up to date (a docker/lxc/qemu create keeps no record: a full push)
      // and learns which directories need no watching.
      // Not a reason to rebuild: the apply just made (or found) the workspace from this source.
      const first = { ...(await syncer.run({ verify: true })), rebuildFor: [] };
      if (!first.outcome.unchanged) this.report.batch(describeBatch(first), first);
    } catch (err) {
      this.report.error(`sync to ${name} failed: ${(err as Error).message}; its source is not watched until the next apply`);
      return;
    }
    const w = watchSource(syncer, {
      batch: (b) => this.report.batch(describeBatch(b), b),
      error: (err) => this.report.error(`sync to ${name} failed: ${err.message}; still watching ${path}`),
    });
    this.running.set(name, { path, close: () => w.close() });
  }

  async close(): Promise<void> {
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => r.close()));
  }
}
