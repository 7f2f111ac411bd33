// The embedded store: plain JSON files under VENDETTA_HOME (default ~/.vendetta).
//
//   resources/<kind>/<name>.json   AppliedRecord (the resource as applied, generation, status)
//   inventory/<applySet>.json      ids the apply set applied (for --prune)
//   quiet/<applySet>.json          QuietMemo: the result of the set's last quiet pass, by digest
//   events.jsonl, events.1.jsonl   recent events; rotated so each file keeps ~EVENTS_PER_FILE lines
//   lock                           LockInfo of the process allowed to mutate
//   identity.json                  StoreIdentity: owner id/name on node objects, hash key (0600)
//   tokens.json                    TokenRecord[]: the server's tokens, hashes only (0600)
//
// Every file write is crash-safe (temp file in the same directory, fsync, rename): a reader sees
// the old content or the new, never half of it. A write that would not change a file's bytes is
// skipped (no temp file, no fsync): a converged pass rewrites nothing.
import { promises as fs, constants as fsConstants, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { EventRecord, Kind, ResourceId } from '../model/types.js';
import { checkApplySetName, normalizedInventory, parseId, RecordWrites, selectEvents } from './records.js';
import { LockTimeoutError, type AppliedRecord, type LockInfo, type QuietMemo, type Store, type StoreIdentity, type TokenRecord } from './types.js';

export { canonicalResource, previousPlacements } from './records.js';

export const EVENTS_PER_FILE = 1000;
const LOCK_POLL_MS = 200;

export function defaultHome(): string {
  return process.env.VENDETTA_HOME ?? path.join(os.homedir(), '.vendetta');
}

export async function openStore(home: string = defaultHome()): Promise<Store> {
  const store = new FileStore(path.resolve(home));
  await store.init();
  return store;
}

/** Directories this process made or found: a pass writes thousands of records into a few. */
const madeDirs = new Set<string>();
/** Temp names unique within this process (the pid makes them unique between processes). */
let tmpSeq = 0;

/** Writes `content` to `file` so that a crash leaves either the old or the new content. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const dir = path.dirname(file);
  if (!madeDirs.has(dir)) {
    await fs.mkdir(dir, { recursive: true });
    madeDirs.add(dir);
  }
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${(tmpSeq++).toString(36)}.tmp`);
  const handle = await fs.open(tmp, 'w', 0o600).catch(async (err: NodeJS.ErrnoException) => {
    // The directory went since (a home removed and made again): make it once more.
    if (err.code !== 'ENOENT') throw err;
    await fs.mkdir(dir, { recursive: true });
    return fs.open(tmp, 'w', 0o600);
  });
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  return (await readJsonText<T>(file)).value;
}

function readJsonSync<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return unreadable(file, err);
  }
  return parseStored<T>(file, text);
}

/** ENOENT: no record. Anything else: an error that names the file and what to do. */
function unreadable(file: string, err: unknown): undefined {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw new Error(`cannot read ${file}: ${(err as Error).message}; fix or delete the file`, { cause: err });
}

function parseStored<T>(file: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}; fix or delete the file`, { cause: err });
  }
}

/** The parsed file and its exact text, so a writer can tell whether new content changes anything. */
async function readJsonText<T>(file: string): Promise<{ value?: T; text?: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    return unreadable(file, err) ?? {};
  }
  return { value: parseStored<T>(file, text), text };
}

/** JSON as the store writes it. */
function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** writeFileAtomic unless `file` already holds exactly `content` (its current text: `before`). */
async function writeIfChanged(file: string, content: string, before: string | undefined): Promise<void> {
  if (content === before) return;
  await writeFileAtomic(file, content);
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

/** True when `pid` is a live process on this host. EPERM means it exists but is not ours. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Per-file queues, by absolute path: read-modify-write of one file never interleaves within this
 * process, whichever FileStore instance does it. Across processes, the store lock keeps writers apart.
 */
const queues = new Map<string, Promise<unknown>>();

class FileStore extends RecordWrites implements Store {
  /** Lines in events.jsonl; counted on the first append, so read-only commands never read the file. */
  private eventLines: number | undefined;
  /** Events not yet written, and the queued write that will take them (appendEvent). */
  private pendingEvents: EventRecord[] = [];
  private nextEventWrite: Promise<void> | undefined;

  constructor(readonly home: string) {
    super();
  }

  // Directories are made by the first write, not here: read-only commands (validate, get, a
  // rejected apply) must leave VENDETTA_HOME as they found it.
  async init(): Promise<void> {}

  private get eventsFile(): string {
    return path.join(this.home, 'events.jsonl');
  }
  private get rotatedEventsFile(): string {
    return path.join(this.home, 'events.1.jsonl');
  }
  private get identityFile(): string {
    return path.join(this.home, 'identity.json');
  }

  async identity(opts: { create?: boolean } = {}): Promise<StoreIdentity | undefined> {
    const existing = await this.readIdentity();
    if (existing || opts.create === false) return existing;
    await fs.mkdir(this.home, { recursive: true, mode: 0o700 });
    const fresh: StoreIdentity = {
      id: randomBytes(8).toString('hex'),
      name: `${safeUser()}@${os.hostname()}:${this.home}`,
      key: randomBytes(32).toString('base64'),
    };
    // Written whole to a temp file, then hard-linked into place: link fails with EEXIST when
    // another process made it first (then theirs is the identity), and nobody sees half a file.
    const tmp = `${this.identityFile}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const handle = await fs.open(tmp, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, 0o600);
    try {
      await handle.writeFile(JSON.stringify(fresh, null, 2) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.link(tmp, this.identityFile);
      return fresh;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new Error(`cannot create ${this.identityFile}: ${(err as Error).message}`, { cause: err });
      }
      const winner = await this.readIdentity();
      if (!winner) throw new Error(`${this.identityFile} exists but cannot be read`);
      return winner;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  private async readIdentity(): Promise<StoreIdentity | undefined> {
    const id = await readJson<Partial<StoreIdentity>>(this.identityFile);
    if (id === undefined) return undefined;
    if (typeof id.id !== 'string' || !/^[0-9a-f]{8,64}$/.test(id.id) || typeof id.name !== 'string' || typeof id.key !== 'string' || Buffer.from(id.key, 'base64').length < 16) {
      throw new Error(
        `${this.identityFile} is not a valid store identity (needs id: hex, name, key: base64 of at least 16 bytes); ` +
          `restore it from a backup: objects on nodes are owned by its id and their hashes keyed with its key`,
      );
    }
    return { id: id.id, name: id.name, key: id.key };
  }

  private get lockFile(): string {
    return path.join(this.home, 'lock');
  }

  private recordFile(id: ResourceId): string {
    const { kind, name } = parseId(id);
    return path.join(this.home, 'resources', kind, `${name}.json`);
  }

  private serialize<T>(file: string, work: () => Promise<T>): Promise<T> {
    const previous = queues.get(file) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    queues.set(file, settled);
    void settled.then(() => {
      if (queues.get(file) === settled) queues.delete(file);
    });
    return next;
  }

  get(id: ResourceId): Promise<AppliedRecord | undefined> {
    return readJson<AppliedRecord>(this.recordFile(id));
  }

  /** Read-modify-write of one record; `update` returning undefined leaves it alone. */
  protected updateRecord<T>(id: ResourceId, update: (existing: AppliedRecord | undefined) => { record: AppliedRecord; result: T } | undefined): Promise<T | undefined> {
    const file = this.recordFile(id);
    return this.serialize(file, async () => {
      const { value: existing, text } = await readJsonText<AppliedRecord>(file);
      const next = update(existing);
      if (!next) return undefined;
      await writeIfChanged(file, jsonText(next.record), text);
      return next.result;
    });
  }

  async list(kind?: Kind): Promise<AppliedRecord[]> {
    const kinds = kind ? [kind.toLowerCase()] : await this.readDirSafe(path.join(this.home, 'resources'));
    const records: AppliedRecord[] = [];
    for (const k of kinds.sort()) {
      const files = (await this.readDirSafe(path.join(this.home, 'resources', k))).filter((f) => f.endsWith('.json') && !f.startsWith('.'));
      // In name order (id order, as every backend lists): "a" before "a-b", which "a.json" is not.
      const names = files.map((f) => f.slice(0, -'.json'.length)).sort();
      // Read synchronously: thousands of small local files cost ~30 µs each this way, against four
      // thread-pool round trips each (open, stat, read, close) one after the other, ~0.6 ms.
      for (const name of names) {
        const record = readJsonSync<AppliedRecord>(path.join(this.home, 'resources', k, `${name}.json`));
        if (record) records.push(record);
      }
    }
    return records;
  }

  remove(id: ResourceId): Promise<void> {
    const file = this.recordFile(id);
    return this.serialize(file, () => fs.rm(file, { force: true }));
  }

  async inventory(applySet: string): Promise<ResourceId[]> {
    return (await readJson<ResourceId[]>(this.inventoryFile(applySet))) ?? [];
  }

  async setInventory(applySet: string, ids: ResourceId[]): Promise<void> {
    const file = this.inventoryFile(applySet);
    return this.serialize(file, async () => {
      const { text } = await readJsonText<ResourceId[]>(file).catch(() => ({ text: undefined }));
      await writeIfChanged(file, jsonText(normalizedInventory(ids)), text);
    });
  }

  async quietMemo(applySet: string): Promise<QuietMemo | undefined> {
    // A memo is only ever a shortcut: one that cannot be read is no memo.
    return readJson<QuietMemo>(this.applySetFile('quiet', applySet)).catch(() => undefined);
  }

  async setQuietMemo(applySet: string, memo: QuietMemo): Promise<void> {
    const file = this.applySetFile('quiet', applySet);
    return this.serialize(file, async () => {
      const { text } = await readJsonText<QuietMemo>(file).catch(() => ({ text: undefined }));
      await writeIfChanged(file, JSON.stringify(memo) + '\n', text);
    });
  }

  private inventoryFile(applySet: string): string {
    return this.applySetFile('inventory', applySet);
  }

  private applySetFile(dir: 'inventory' | 'quiet', applySet: string): string {
    checkApplySetName(applySet);
    return path.join(this.home, dir, `${applySet}.json`);
  }

  /**
   * Events that arrive while a write is queued or running go out together in the next append: a
   * pass that deletes a thousand workspaces records thousands of events, and one mkdir + append
   * each, one after the other, held its end by about a second.
   */
  appendEvent(event: EventRecord): Promise<void> {
    this.pendingEvents.push(event);
    return (this.nextEventWrite ??= this.serialize(this.eventsFile, async () => {
      // From here on, new events wait for the next write.
      this.nextEventWrite = undefined;
      const batch = this.pendingEvents;
      this.pendingEvents = [];
      this.eventLines ??= (await this.readEventFile(this.eventsFile)).length;
      await fs.mkdir(this.home, { recursive: true, mode: 0o700 });
      for (let i = 0; i < batch.length; ) {
        if (this.eventLines >= EVENTS_PER_FILE) {
          // Rotation keeps between EVENTS_PER_FILE and 2×EVENTS_PER_FILE recent events on disk.
          await fs.rename(this.eventsFile, this.rotatedEventsFile).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'ENOENT') throw err;
          });
          this.eventLines = 0;
        }
        const chunk = batch.slice(i, i + EVENTS_PER_FILE - this.eventLines);
        await fs.appendFile(this.eventsFile, chunk.map((e) => JSON.stringify(e) + '\n').join(''), { mode: 0o600 });
        i += chunk.length;
        this.eventLines += chunk.length;
      }
    }));
  }

  async events(opts: { object?: ResourceId; limit?: number } = {}): Promise<EventRecord[]> {
    const all = [...(await this.readEventFile(this.rotatedEventsFile)), ...(await this.readEventFile(this.eventsFile))];
    return selectEvents(all, opts);
  }

  private async readEventFile(file: string): Promise<EventRecord[]> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const events: EventRecord[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        events.push(JSON.parse(line) as EventRecord);
      } catch {
        // A line cut short by a crash mid-append: skip it, keep the rest.
      }
    }
    return events;
  }

  private get tokensFile(): string {
    return path.join(this.home, 'tokens.json');
  }

  async tokens(): Promise<TokenRecord[]> {
    return (await readJson<TokenRecord[]>(this.tokensFile)) ?? [];
  }

  /** Read-modify-write of tokens.json; `update` returning undefined writes nothing. */
  private updateTokens(update: (tokens: TokenRecord[]) => TokenRecord[] | undefined): Promise<boolean> {
    const file = this.tokensFile;
    return this.serialize(file, async () => {
      const { value, text } = await readJsonText<TokenRecord[]>(file);
      const next = update(value ?? []);
      if (!next) return false;
      await writeIfChanged(file, jsonText([...next].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))), text);
      return true;
    });
  }

  createToken(token: TokenRecord): Promise<boolean> {
    return this.updateTokens((tokens) => (tokens.some((t) => t.name === token.name) ? undefined : [...tokens, token]));
  }

  revokeToken(name: string, at: string): Promise<boolean> {
    return this.updateTokens((tokens) => {
      if (!tokens.some((t) => t.name === name)) return undefined;
      return tokens.map((t) => (t.name === name ? { ...t, revoked: t.revoked ?? at } : t));
    });
  }

  private async readDirSafe(dir: string): Promise<string[]> {
    try {
      return await fs.readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async lock(command: string, opts: { timeoutMs: number; onWait?: (holder: LockInfo) => void }): Promise<() => Promise<void>> {
    const mine: LockInfo = { pid: process.pid, host: os.hostname(), command, since: new Date().toISOString() };
    const deadline = Date.now() + opts.timeoutMs;
    let waited = false;
    for (;;) {
      if (await this.tryCreateLock(mine)) return () => this.releaseLock(mine);
      const holder = await this.readLockHolder();
      if (!holder) continue; // released between our attempt and the read: try again at once
      if (holder.host === mine.host && !processAlive(holder.pid)) {
        await this.removeLockIf(holder);
        continue;
      }
      if (!waited) {
        waited = true;
        opts.onWait?.(holder);
      }
      if (Date.now() >= deadline) throw new LockTimeoutError(holder, opts.timeoutMs);
      await new Promise((resolve) => setTimeout(resolve, Math.min(LOCK_POLL_MS, Math.max(0, deadline - Date.now()))));
    }
  }

  /**
   * Creates the lock with its full content in one step: the LockInfo is written to a temp file,
   * then hard-linked to `lock` (link fails with EEXIST like O_EXCL), so no one ever reads an
   * empty lock file.
   */
  private async tryCreateLock(info: LockInfo): Promise<boolean> {
    const tmp = `${this.lockFile}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fs.mkdir(this.home, { recursive: true, mode: 0o700 });
      const handle = await fs.open(tmp, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, 0o600);
      try {
        await handle.writeFile(JSON.stringify(info));
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw this.unwritable(err);
    }
    try {
      await fs.link(tmp, this.lockFile);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new Error(`cannot create lock ${this.lockFile}: ${(err as Error).message}`, { cause: err });
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /** The first write of a mutating command failed: say which store and how to fix it. */
  private unwritable(err: unknown): Error {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'it is on a read-only file system' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOSPC' ? 'no space left on the device' : (err as Error).message;
    return new Error(
      `cannot write the store in ${this.home} (VENDETTA_HOME): ${why}; nothing was changed. ` +
        `Make ${this.home} writable (or free space on it), or set VENDETTA_HOME to a writable directory`,
      { cause: err },
    );
  }

  /**
   * The lock's holder; undefined when there is no lock. A lock file is only ever created whole
   * (see tryCreateLock), so one that does not parse will never be released by anyone: fail at once
   * instead of waiting --lock-timeout for it.
   */
  private async readLockHolder(): Promise<LockInfo | undefined> {
    let holder: Partial<LockInfo> | undefined;
    try {
      holder = await readJson<LockInfo>(this.lockFile);
    } catch {
      holder = {};
    }
    if (holder === undefined) return undefined;
    if (typeof holder?.pid !== 'number' || typeof holder.host !== 'string') {
      throw new Error(
        `the lock file ${this.lockFile} is corrupt (not a vendetta lock); nothing was changed. ` +
          `If no other vendetta is running with this VENDETTA_HOME, delete that file and try again`,
      );
    }
    return holder as LockInfo;
  }

  /** Removes the lock only if it still holds `info` (not a lock someone took meanwhile). */
  private async removeLockIf(info: LockInfo): Promise<void> {
    const current = await readJson<LockInfo>(this.lockFile).catch(() => undefined);
    if (current && current.pid === info.pid && current.host === info.host && current.since === info.since) {
      await fs.rm(this.lockFile, { force: true });
    }
  }

  private releaseLock(info: LockInfo): Promise<void> {
    return this.removeLockIf(info);
  }
}
