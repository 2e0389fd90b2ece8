/**
 * The embedded datastore: SQLite (better-sqlite3) holding an append-only log in the manner of kine.
 * Every create, update and delete appends a row; the row id is the revision. The current state of a
 * key is its newest row, unless that row is a deletion. Compaction removes rows superseded at or
 * before a revision (and deletions there), keeping the newest row of every live key.
 *
 * One connection writes, in WAL mode. Writes of one tick are committed together (group commit), and
 * the write-ahead log is then flushed to disk with fdatasync on libuv's threadpool rather than inside
 * SQLite's COMMIT, which would stall the event loop for every batch; while a flush is in flight the
 * next batches commit and wait for the following one. Nothing is acknowledged, visible to reads or sent
 * to watchers before its flush returns, so a crash (of the process or the machine) loses nothing that
 * anyone has seen. Watches are fed from the rows just made durable, in-process, with no polling.
 *
 * The newest row of every live key is also kept in memory (as the Kubernetes API server's watch cache
 * keeps objects): this connection is the only writer, so the map changes only with its own writes, and
 * reads of the current state and the checks of each write are answered without a query.
 */
import { closeSync, fdatasync, openSync } from 'node:fs';
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

type Written = { row: Row; prev?: Row };
type WriteResult = { ok: true; value: Written } | { ok: false; err: unknown };

interface PendingWrite {
  fn: () => Written;
  resolve: (v: Written) => void;
  reject: (err: unknown) => void;
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

/**
 * One KeyValue per row kept in memory: a change's `prev` is then the very object its own event carried,
 * so watchers that decoded that event (keyed by the object) do not decode it again.
 */
const kvOfRow = new WeakMap<Row, KeyValue>();

function toKv(r: Row): KeyValue {
  let kv = kvOfRow.get(r);
  if (!kv) {
    kv = { key: r.name, value: r.value ?? Buffer.alloc(0), createRevision: r.create_revision, modRevision: r.id };
    kvOfRow.set(r, kv);
  }
  return kv;
}

export class SqliteStorage implements Storage {
  private readonly db: Database.Database;
  private readonly watchers = new Set<Watcher>();
  private readonly queue: PendingWrite[] = [];
  /** Committed batches waiting for the next flush of the write-ahead log. */
  private readonly unflushed: Array<(failed?: StorageError) => void> = [];
  private flushing: Promise<void> | undefined;
  /** Set when a flush of the log failed: what it held may be lost, so nothing more is accepted. */
  private failed: StorageError | undefined;
  private walFd: number | undefined;
  private readonly walFile: string;
  private readonly commitBatch: Database.Transaction<(batch: PendingWrite[]) => WriteResult[]>;
  private compactRevision = 0;
  /** The newest revision: this connection is the only writer, so it is kept here rather than queried. */
  private latest = 0;
  private readonly stmt: Record<string, Database.Statement>;
  /** The newest row of each live key, committed or in the transaction being run. */
  private readonly newest = new Map<string, Row>();
  /** The highest row id written on this connection (committed or in the running transaction). */
  private written = 0;
  /** Keys the running write changed, to be read again from the database if its savepoint is undone. */
  private touched: string[] = [];

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // NORMAL: SQLite does not sync the log at COMMIT; flushLog() does, off the event loop, before any
    // write is acknowledged. Checkpoints still sync the log before copying it into the database.
    this.db.pragma('synchronous = NORMAL');
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
      since: this.db.prepare(`SELECT * FROM log WHERE id > ? AND id <= ? AND name >= ? AND name < ? ORDER BY id`),
      byId: this.db.prepare(`SELECT * FROM log WHERE id = ?`),
      count: this.db.prepare(
        `SELECT COUNT(*) AS n FROM log l JOIN (SELECT MAX(id) AS id FROM log WHERE name >= ? AND name < ? GROUP BY name) m ON l.id = m.id WHERE l.deleted = 0`,
      ),
      newest: this.db.prepare(
        `SELECT l.* FROM log l JOIN (SELECT MAX(id) AS id FROM log GROUP BY name) m ON l.id = m.id WHERE l.deleted = 0`,
      ),
    };
    this.latest = (this.stmt.revision!.get() as { rev: number }).rev;
    this.loadNewest();
    this.walFile = `${file}-wal`;
    // Nested better-sqlite3 transactions are savepoints: a failed check undoes only its own write.
    const inSavepoint = this.db.transaction((fn: () => Written) => fn());
    this.commitBatch = this.db.transaction((batch: PendingWrite[]) =>
      batch.map((op): WriteResult => {
        this.touched = [];
        try {
          return { ok: true, value: inSavepoint(op.fn) };
        } catch (err) {
          for (const key of this.touched) this.reloadKey(key);
          return { ok: false, err };
        }
      }),
    );
  }

  /** Fill the map of newest rows from the database (at start, and after a transaction was undone). */
  private loadNewest(): void {
    this.newest.clear();
    for (const r of this.stmt.newest!.iterate() as Iterable<Row>) this.newest.set(r.name, r);
    this.written = (this.stmt.revision!.get() as { rev: number }).rev;
  }

  private reloadKey(key: string): void {
    const r = this.stmt.current!.get(key, Number.MAX_SAFE_INTEGER) as Row | undefined;
    if (r && !r.deleted) this.newest.set(key, r);
    else this.newest.delete(key);
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

  /** The key's newest live row at revision `at`: from memory when that is the newest row of all. */
  private currentRow(key: string, at = Number.MAX_SAFE_INTEGER): Row | undefined {
    const cached = this.newest.get(key);
    if (cached ? cached.id <= at : at >= this.written) return cached;
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

  async count(prefix: string): Promise<number> {
    return (this.stmt.count!.get(prefix, prefixEnd(prefix)) as { n: number }).n;
  }

  /**
   * Append one row with its check. Writes that arrive in the same tick share one transaction, and
   * transactions committed while the log is being flushed share the next flush. Callers hear back and
   * watchers get the events, in revision order, once the rows are on disk.
   */
  private write(fn: () => Written): Promise<Written> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.queue.push({ fn, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.commit());
    });
  }

  private commit(): void {
    const batch = this.queue.splice(0);
    let results: WriteResult[];
    try {
      results = this.commitBatch.immediate(batch);
    } catch (err) {
      // The whole transaction was undone: what its writes put in memory goes with it.
      this.loadNewest();
      for (const op of batch) op.reject(err);
      return;
    }
    // Failed checks are answered with the flush too: a conflict with a row not yet flushed must not
    // reach a caller who would read again and still see the older row.
    this.unflushed.push((failed) => {
      batch.forEach((op, i) => {
        const r = results[i]!;
        if (!r.ok) return op.reject(r.err);
        if (failed) return op.reject(failed);
        if (r.value.row.id > this.latest) this.latest = r.value.row.id;
        this.notify({
          type: r.value.row.deleted ? 'delete' : 'put',
          kv: toKv(r.value.row),
          prev: r.value.prev ? toKv(r.value.prev) : undefined,
        });
        op.resolve(r.value);
      });
    });
    this.flushLog();
  }

  /** One fdatasync of the write-ahead log at a time, covering every batch committed before it began. */
  private flushLog(): void {
    if (this.flushing || this.unflushed.length === 0) return;
    const done = this.unflushed.splice(0);
    this.walFd ??= openSync(this.walFile, 'r');
    const fd = this.walFd;
    this.flushing = new Promise<void>((resolve) =>
      fdatasync(fd, (err) => {
        this.flushing = undefined;
        if (err) {
          this.failed = new StorageError('unavailable', `flushing the datastore's log to disk failed: ${err.message}`);
          for (const op of this.queue.splice(0)) op.reject(this.failed);
          for (const deliver of done) deliver(this.failed);
        } else {
          for (const deliver of done) deliver();
        }
        resolve();
        if (!this.failed) this.flushLog();
      }),
    );
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
    const row: Row = {
      id,
      name,
      created: created ? 1 : 0,
      deleted: deleted ? 1 : 0,
      create_revision: created ? id : createRevision,
      prev_revision: prevRevision,
      value,
    };
    this.touched.push(name);
    this.written = id;
    if (deleted) this.newest.delete(name);
    else this.newest.set(name, row);
    return row;
  }

  async create(key: string, value: Buffer): Promise<KeyValue> {
    const { row } = await this.write(() => {
      if (this.currentRow(key)) throw new StorageError('exists', `key exists: ${key}`);
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
        // Up to the durable revision: later rows arrive as live events once flushed.
        const upTo = this.latest;
        for (const r of this.stmt.since!.iterate(fromRevision, upTo, prefix, prefixEnd(prefix)) as Iterable<Row>) {
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
    while (this.flushing) await this.flushing;
    if (this.walFd !== undefined) closeSync(this.walFd);
    for (const w of this.watchers) w.cancelled = true;
    this.watchers.clear();
    this.db.close();
  }
}
