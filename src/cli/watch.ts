// vendetta apply -f PATH… --watch : apply, then keep the nodes converged and re-apply whenever
// a manifest changes.
//
// - Every change (an edit, an editor's atomic save, an added or removed file) re-reads and
//   re-validates the WHOLE set. The first change of a burst acts at once (leading edge); the rest
//   of the burst is coalesced into one more apply once --debounce passed without a change. The
//   leading edge never acts on a set that does not parse or validate (a half-written file) nor on
//   one that drops a resource in force (a file cut at a document boundary): those wait for the
//   debounce. An invalid set is reported with file:line errors and the last good set stays in
//   force: nothing is torn down.
// - A valid set is applied like `vendetta apply` (its plan, events, then the result), then the
//   engine's loop keeps running over it with a periodic resync that repairs drift.
// - The store lock is held for the whole session: the watcher is the one writer while it runs,
//   and another `vendetta apply` waits for it with the usual "held by" message.
// - Every workspace's source.path is watched too: changed files are pushed into it as they are
//   saved (src/sync: one tar over one exec per batch, .gitignore and .vendettaignore honoured), and
//   its services with `onSync: restart` restart; `onSync: rebuild` replaces the workspace (an
//   apply of the set in force that recreates it). Watchers follow the set in force.
// - Ctrl-C (SIGINT) or SIGTERM aborts at a safe point, closes transports, releases the lock and
//   exits 0. Whatever was half-done is finished by the next apply (level-triggered).
import { hostname } from 'node:os';
import { extname } from 'node:path';
import { watch as watchFiles } from 'chokidar';
import { loadManifests, formatManifestErrors } from '../manifest/index.js';
import { setLongTimeout, type LongTimeout } from '../model/timers.js';
import { renderPlan, planSummary } from '../output/plan-render.js';
import { detectStyle } from '../output/style.js';
import { createProgress } from '../output/progress.js';
import { structured } from '../output/format.js';
import { createEngine } from '../reconcile/engine.js';
import type { LoadedSet } from '../reconcile/api.js';
import { defaultHome, openStore } from '../store/file-store.js';
import { SourceWatchers } from '../sync/watchers.js';
import { openWorkspace } from './runtime.js';
import { TransportPool } from '../transport/pool.js';
import { Mutex, ResyncLoop, lockHeldStore } from '../server/session.js';
import { drivers, flagDuration, manifestOptions, type GlobalOptions } from './context.js';
import { renderResult } from './apply.js';
import { untilSignal } from './serve.js';
import { UsageError } from './errors.js';

export interface WatchFlags {
  filename: string[];
  prune?: boolean;
  volumes?: boolean;
  applyset: string;
  timeout?: string;
  lockTimeout?: string;
  resync?: string;
  debounce?: string;
  /** Compose files: the node their workspaces go to. */
  node?: string;
  output: 'text' | 'json' | 'yaml';
}

/** Quiet time that ends a burst of changes (--debounce); the first change of a burst acts at once. */
export const DEFAULT_DEBOUNCE_MS = 300;

/** True when `next` no longer declares a resource `current` declares (a prune, or a file cut short). */
export function dropsResources(current: LoadedSet, next: LoadedSet): boolean {
  const kinds = ['nodes', 'workspaces', 'services'] as const;
  return kinds.some((k) => [...current.desired[k].keys()].some((name) => !next.desired[k].has(name)));
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Which file events matter: manifests, and any file named explicitly with -f. */
export function isManifestPath(file: string, explicit: Set<string>): boolean {
  return explicit.has(file) || MANIFEST_EXTENSIONS.has(extname(file).toLowerCase());
}

/**
 * Acts on the first change at once and coalesces the burst that follows. `poke` on a change:
 * when idle, `fire('leading')` runs at once; changes within `quietMs` of the last one are
 * batched into one `fire('trailing')` after `quietMs` of quiet. A leading fire that resolves
 * false (it declined: the files looked half-written) gets a trailing fire even without another
 * change, so its verdict is final only after the quiet time.
 */
export function changeBatcher(quietMs: number, fire: (edge: 'leading' | 'trailing') => Promise<boolean> | boolean): { poke(): void; cancel(): void } {
  let timer: LongTimeout | undefined;
  let trailing = false;
  let cancelled = false;
  const quiet = () => {
    timer?.clear();
    timer = setLongTimeout(() => {
      timer = undefined;
      if (!trailing || cancelled) return;
      trailing = false;
      void fire('trailing');
    }, quietMs);
  };
  return {
    poke() {
      if (cancelled) return;
      if (timer) {
        trailing = true;
        quiet();
        return;
      }
      quiet();
      void Promise.resolve(fire('leading')).then((acted) => {
        if (acted || cancelled) return;
        if (timer) trailing = true; // the quiet time is still running: it ends in a trailing fire
        else void fire('trailing');
      });
    },
    cancel() {
      cancelled = true;
      timer?.clear();
    },
  };
}

export async function runWatch(flags: WatchFlags, global: GlobalOptions): Promise<void> {
  if (process.env.VENDETTA_SERVER) {
    throw new UsageError('--watch cannot be combined with --server', 'the server already reconciles continuously: apply to it without --watch');
  }
  const paths = flags.filename;
  if (!paths.length) throw new UsageError('no manifests given', 'pass -f FILE_OR_DIR (repeatable)');
  const human = flags.output === 'text';
  const style = detectStyle(process.stdout);
  const progress = createProgress(detectStyle(process.stderr));
  const timeoutMs = flagDuration('--timeout', flags.timeout, 300_000);
  const resyncMs = flagDuration('--resync', flags.resync, 30_000);
  const debounceMs = flagDuration('--debounce', flags.debounce, DEFAULT_DEBOUNCE_MS);
  const say = (line: string) => progress.line(line);
  const print = (data: unknown) => process.stdout.write((human ? String(data) : structured(data, 'json').replace(/\n\s*/g, ' ')) + '\n');

  const store = await openStore();
  const release = await store.lock(`apply --watch (${hostname()})`, {
    timeoutMs: flagDuration('--lock-timeout', flags.lockTimeout, 60_000),
    onWait: (h) => say(`waiting for the lock held by pid ${h.pid} on ${h.host} ("${h.command}", since ${h.since})…`),
  });
  const session = new AbortController();
  const pool = new TransportPool({ strictHostKeys: global.strictHostKeys });
  let applying = false;
  const engine = createEngine({
    store: lockHeldStore(store),
    connect: (node) => pool.get(node),
    drivers: drivers(),
    events: {
      onEvent: (e) => human && progress.event(e),
      onProgress: (r, m) => human && progress.status(r, m),
      onPlan: (plan, pass) => {
        // The plan of each change; resync passes that find drift print theirs too.
        if (!(applying && pass === 1) && plan.operations.length === 0) return;
        if (!(applying && pass === 1) && !human) return;
        if (human) process.stdout.write(renderPlan(plan, { color: style.color }) + planSummary(plan) + '\n');
        else print({ plan });
      },
    },
  });
  const loop = new ResyncLoop(engine, {
    resyncMs,
    applySet: flags.applyset,
    hooks: { onError: (err) => say(`resync loop stopped: ${(err as Error).message}; it restarts on the next change`) },
  });
  const mutex = new Mutex();
  let inForce: LoadedSet | undefined;
  const sources = new SourceWatchers(store, (name) => openWorkspace(store, pool, name), defaultHome(), {
    batch: (line, data) => {
      print(human ? line : { sync: data });
      if (data.rebuildFor.length > 0) void rebuild(data.workspace, data.rebuildFor);
    },
    error: (line) => say(line),
  });

  /**
   * Loads, validates and applies the files; false when it declined. `tentative` (the leading edge
   * of a burst): an invalid set, or one that drops a resource in force, is declined silently; the
   * debounce's trailing call decides (and reports errors) once the writes are over.
   */
  const applyCurrentFiles = (why: string, tentative = false) =>
    mutex.run(async () => {
      if (session.signal.aborted) return true;
      const loaded = await loadManifests(paths, { ...(await manifestOptions()), ...(flags.node !== undefined ? { composeNode: flags.node } : {}) });
      if (tentative && (!loaded.ok || (inForce && dropsResources(inForce, loaded.set)))) return false;
      if (!loaded.ok) {
        const n = loaded.total;
        const kept = inForce ? 'the last good set stays in force; nothing was changed' : 'nothing was applied yet';
        if (human) process.stderr.write(`${formatManifestErrors(loaded.errors, n).join('\n')}\n${n} error${n === 1 ? '' : 's'} in manifests (${why}); ${kept}\n`);
        else print({ valid: false, errors: loaded.errors, total: n });
        return true;
      }
      await loop.stop();
      if (session.signal.aborted) return true;
      say(`applying (${why})…`);
      applying = true;
      const started = Date.now();
      try {
        const result = await engine.apply(loaded.set, {
          applySet: flags.applyset,
          prune: Boolean(flags.prune),
          pruneVolumes: Boolean(flags.volumes),
          timeoutMs,
          signal: session.signal,
        });
        progress.done();
        print(human ? renderResult(result, Date.now() - started, style) : result);
        inForce = loaded.set;
        // After the apply: the workspaces exist, so a watcher's first run can verify them.
        await sources.follow(inForce.desired.workspaces.values());
      } catch (err) {
        say(`apply failed: ${(err as Error).message}; the last good set stays in force`);
      } finally {
        applying = false;
      }
      if (!session.signal.aborted && inForce) {
        loop.start(inForce);
        say(`watching ${paths.join(', ')} for changes (resync every ${flags.resync ?? '30s'}; Ctrl-C to stop)`);
      }
      return true;
    });

  /**
   * onSync: rebuild. The set in force is applied again with the workspace replaced (from its
   * source as it is now; the plan warns that files outside volumes are lost). Never asks: the
   * manifest asked for it.
   */
  const rebuild = (workspace: string, by: string[]) =>
    mutex.run(async () => {
      if (session.signal.aborted || !inForce?.desired.workspaces.has(workspace)) return;
      await loop.stop();
      say(`rebuilding ${workspace} (onSync: rebuild of ${by.join(', ')})…`);
      applying = true;
      const started = Date.now();
      try {
        const result = await engine.apply(inForce, { applySet: flags.applyset, prune: false, timeoutMs, signal: session.signal, rebuild: [workspace] });
        progress.done();
        print(human ? renderResult(result, Date.now() - started, style) : result);
      } catch (err) {
        say(`rebuild of ${workspace} failed: ${(err as Error).message}`);
      } finally {
        applying = false;
      }
      if (!session.signal.aborted) loop.start(inForce);
    });

  const explicit = new Set(paths.map((p) => p));
  const watcher = watchFiles(paths, { ignoreInitial: true, atomic: true });
  let changed = new Set<string>();
  const debounce = changeBatcher(debounceMs, async (edge) => {
    const batch = [...changed];
    changed = new Set();
    const acted = await applyCurrentFiles(`changed: ${batch.join(', ')}`, edge === 'leading');
    if (!acted) for (const f of batch) changed.add(f); // named again by the trailing call
    return acted;
  });
  watcher.on('all', (event, file) => {
    if (event === 'addDir' || event === 'unlinkDir' || !isManifestPath(file, explicit)) return;
    changed.add(file);
    debounce.poke();
  });
  watcher.on('error', (err) => say(`watching failed: ${(err as Error).message}`));

  try {
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    void applyCurrentFiles('start');
    await untilSignal();
    say('stopping: finishing the operation in flight…');
  } finally {
    session.abort();
    debounce.cancel();
    await watcher.close();
    await sources.close();
    await mutex.run(() => loop.stop());
    progress.done();
    await engine.close();
    await pool.closeAll();
    await release();
  }
  say('stopped; run `vendetta apply` to finish anything left half-done');
}
