/**
 * The embedded datastore: SQLite (better-sqlite3) holding an append-only log in the manner of kine.
 * Every create, update and delete appends a row; the row id is the revision. The current state of a
 * key is its newest row, unless that row is a deletion. Compaction removes rows superseded at or
 * before a revision (and deletions there), keeping the newest row of every live key.
 *
 * One connection writes, in WAL mode with synchronous=FULL, so a write is on disk when its call
 * returns: a crash loses nothing that was acknowledged. Writes of one tick are committed together. Watches are fed from the rows just committed,
 * in-process, with no polling.
 */
import Database from 'better-sqlite3';
import {
  StorageError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Storage,
  type Watch,
  type WatchEvent,
} from './types.js';

interface Row {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  value: Buffer | null;
}

interface Watcher {
  prefix: string;
  onEvent: (e: WatchEvent) => void;
  onError: (err: StorageError) => void;
  /** Events not yet delivered while the replay of history runs. */
  backlog?: WatchEvent[];
  cancelled: boolean;
}

/** The end of a prefix range: the prefix with its last character incremented. */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

function toKv(r: Row): KeyValue {
  return { key: r.name, value: r.value ?? Buffer.alloc(0), createRevision: r.create_revision, modRevision: r.id };
}

export class SqliteStorage implements Storage {
  private readonly db: Database.Database;
  private readonly watchers = new Set<Watcher>();
  private readonly queue: Array<{
    fn: () => { row: Row; prev?: Row };
    resolve: (v: { row: Row; prev?: Row }) => void;
    reject: (err: unknown) => void;
  }> = [];
  private compactRevision = 0;
  /** The newest revision: this connection is the only writer, so it is kept here rather than queried. */
  private latest = 0;
  private readonly stmt: Record<string, Database.Statement>;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        created INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        create_revision INTEGER NOT NULL,
        prev_revision INTEGER NOT NULL,
        value BLOB
      );
      CREATE INDEX IF NOT EXISTS log_name_id ON log (name, id);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
    this.compactRevision =
      (this.db.prepare(`SELECT value FROM meta WHERE key = 'compact'`).get() as { value: number } | undefined)?.value ??
      0;
    const latestAt = `SELECT l.* FROM log l JOIN (SELECT name, MAX(id) AS id FROM log WHERE name >= ? AND name < ? AND id <= ? GROUP BY name) m ON l.id = m.id WHERE l.deleted = 0 AND l.name >= ? ORDER BY l.name LIMIT ?`;
    this.stmt = {
      revision: this.db.prepare(`SELECT COALESCE(MAX(id), 0) AS rev FROM log`),
      current: this.db.prepare(`SELECT * FROM log WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1`),
      latestAt: this.db.prepare(latestAt),
      insert: this.db.prepare(
        `INSERT INTO log (name, created, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      setCreateRevision: this.db.prepare(`UPDATE log SET create_revision = id WHERE id = ?`),
      since: this.db.prepare(`SELECT * FROM log WHERE id > ? AND name >= ? AND name < ? ORDER BY id`),
      byId: this.db.prepare(`SELECT * FROM log WHERE id = ?`),
      exists: this.db.prepare(`SELECT deleted FROM log WHERE name = ? ORDER BY id DESC LIMIT 1`),
    };
    this.latest = (this.stmt.revision!.get() as { rev: number }).rev;
  }

  private rev(): number {
    return this.latest;
  }

  async revision(): Promise<number> {
    return this.rev();
  }

  private checkRevision(revision: number | undefined): number {
    const current = this.rev();
    if (!revision) return current;
    if (revision < this.compactRevision)
      throw new StorageError(
        'compacted',
        `required revision ${revision} has been compacted (oldest kept: ${this.compactRevision})`,
      );
    if (revision > current)
      throw new StorageError('unavailable', `required revision ${revision} is a future revision (current: ${current})`);
    return revision;
  }

  private currentRow(key: string, at = Number.MAX_SAFE_INTEGER): Row | undefined {
    const r = this.stmt.current!.get(key, at) as Row | undefined;
    return r && !r.deleted ? r : undefined;
  }

  async get(key: string, revision?: number): Promise<KeyValue | undefined> {
    const at = this.checkRevision(revision);
    const r = this.currentRow(key, at);
    return r ? toKv(r) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const at = this.checkRevision(opts.revision);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : -1;
    const rows = this.stmt.latestAt!.all(
      prefix,
      prefixEnd(prefix),
      at,
      opts.startKey ?? prefix,
      limit === -1 ? -1 : limit + 1,
    ) as Row[];
    const more = limit !== -1 && rows.length > limit;
    return { kvs: (more ? rows.slice(0, limit) : rows).map(toKv), revision: at, more };
  }

  /**
   * Append one row with its check. Writes that arrive in the same tick share one transaction and so one
   * fsync (group commit); each runs in its own savepoint, so a failed check fails only that write.
   * Callers hear back after the commit, and watchers get the events in revision order.
   */
  private write(fn: () => { row: Row; prev?: Row }): Promise<{ row: Row; prev?: Row }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ fn, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue.splice(0);
    const results: Array<{ ok: true; value: { row: Row; prev?: Row } } | { ok: false; err: unknown }> = [];
    try {
      this.db
        .transaction(() => {
          for (const op of batch) {
            try {
              results.push({ ok: true, value: this.db.transaction(op.fn)() });
            } catch (err) {
              results.push({ ok: false, err });
            }
          }
        })
        .immediate();
    } catch (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    for (const r of results) if (r.ok && r.value.row.id > this.latest) this.latest = r.value.row.id;
    batch.forEach((op, i) => {
      const r = results[i]!;
      if (!r.ok) {
        op.reject(r.err);
        return;
      }
      this.notify({
        type: r.value.row.deleted ? 'delete' : 'put',
        kv: toKv(r.value.row),
        prev: r.value.prev ? toKv(r.value.prev) : undefined,
      });
      op.resolve(r.value);
    });
  }

  private append(
    name: string,
    created: boolean,
    deleted: boolean,
    createRevision: number,
    prevRevision: number,
    value: Buffer | null,
  ): Row {
    const info = this.stmt.insert!.run(name, created ? 1 : 0, deleted ? 1 : 0, createRevision, prevRevision, value);
    const id = Number(info.lastInsertRowid);
    if (created) this.stmt.setCreateRevision!.run(id);
    return {
      id,
      name,
      created: created ? 1 : 0,
      deleted: deleted ? 1 : 0,
      create_revision: created ? id : createRevision,
      prev_revision: prevRevision,
      value,
    };
  }

  async create(key: string, value: Buffer): Promise<KeyValue> {
    const { row } = await this.write(() => {
      const newest = this.stmt.exists!.get(key) as { deleted: number } | undefined;
      if (newest && !newest.deleted) throw new StorageError('exists', `key exists: ${key}`);
      return { row: this.append(key, true, false, 0, 0, value) };
    });
    return toKv(row);
  }

  async update(key: string, value: Buffer, expected: number): Promise<KeyValue> {
    const { row } = await this.write(() => {
      const cur = this.currentRow(key);
      if (!cur) throw new StorageError('notFound', `key not found: ${key}`);
      if (cur.id !== expected)
        throw new StorageError(
          'conflict',
          `revision mismatch for ${key}: expected ${expected}, current ${cur.id}`,
          toKv(cur),
        );
      return { row: this.append(key, false, false, cur.create_revision, cur.id, value), prev: cur };
    });
    return toKv(row);
  }

  async delete(key: string, expected?: number): Promise<KeyValue> {
    const { prev } = await this.write(() => {
      const cur = this.currentRow(key);
      if (!cur) throw new StorageError('notFound', `key not found: ${key}`);
      if (expected !== undefined && cur.id !== expected)
        throw new StorageError(
          'conflict',
          `revision mismatch for ${key}: expected ${expected}, current ${cur.id}`,
          toKv(cur),
        );
      return { row: this.append(key, false, true, cur.create_revision, cur.id, cur.value), prev: cur };
    });
    return toKv(prev!);
  }

  private notify(e: WatchEvent): void {
    for (const w of this.watchers) {
      if (w.cancelled || !e.kv.key.startsWith(w.prefix)) continue;
      if (w.backlog) w.backlog.push(e);
      else w.onEvent(e);
    }
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: StorageError) => void,
  ): Watch {
    const w: Watcher = { prefix, onEvent, onError, cancelled: false, backlog: [] };
    this.watchers.add(w);
    // Replay history after fromRevision, then what arrived meanwhile, then live events. The replay runs
    // on a later tick so the caller can finish setting up before the first event.
    queueMicrotask(() => {
      if (w.cancelled) return;
      if (fromRevision > 0 && fromRevision < this.compactRevision) {
        w.cancelled = true;
        this.watchers.delete(w);
        onError(new StorageError('compacted', `required revision ${fromRevision} has been compacted`));
        return;
      }
      let last = fromRevision;
      if (fromRevision > 0) {
        for (const r of this.stmt.since!.iterate(fromRevision, prefix, prefixEnd(prefix)) as Iterable<Row>) {
          if (w.cancelled) return;
          const prev = r.prev_revision ? (this.stmt.byId!.get(r.prev_revision) as Row | undefined) : undefined;
          onEvent({ type: r.deleted ? 'delete' : 'put', kv: toKv(r), prev: prev ? toKv(prev) : undefined });
          last = r.id;
        }
      }
      const backlog = w.backlog ?? [];
      w.backlog = undefined;
      for (const e of backlog) if (e.kv.modRevision > last && !w.cancelled) onEvent(e);
    });
    return {
      cancel: () => {
        w.cancelled = true;
        this.watchers.delete(w);
      },
    };
  }

  async compact(revision: number): Promise<void> {
    if (revision <= this.compactRevision) return;
    this.db.transaction(() => {
      // Rows superseded by a newer row of the same key at or before `revision`, and deletions there.
      this.db
        .prepare(
          `DELETE FROM log WHERE id <= ? AND (deleted = 1 OR id < (SELECT MAX(id) FROM log l2 WHERE l2.name = log.name AND l2.id <= ?))`,
        )
        .run(revision, revision);
      this.db
        .prepare(
          `INSERT INTO meta (key, value) VALUES ('compact', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
        )
        .run(revision);
    })();
    // Live watchers here are fed synchronously at each commit, so compaction never overtakes them.
    this.compactRevision = revision;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.cancelled = true;
    this.watchers.clear();
    this.db.close();
  }
}
