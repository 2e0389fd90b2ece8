/**
 * etcd v3 as the datastore, for clusters bigger than one machine: the `etcd3` client's KV and watch
 * services used directly, so revisions map one to one (etcd's mod_revision is the resourceVersion).
 * Conditional writes are transactions comparing create or mod revisions, as the Kubernetes API server
 * does against etcd.
 */
import { Etcd3, type IKeyValue, type IRangeRequest } from 'etcd3';
import {
  StorageError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Storage,
  type Watch,
  type WatchEvent,
} from './types.js';

function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  const end = Buffer.from(b);
  end[end.length - 1]! += 1;
  return end;
}

function toKv(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value,
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  };
}

/** etcd's errors for a compacted or future revision, in its own words. */
function rangeError(err: unknown): never {
  const msg = (err as Error).message ?? String(err);
  if (/compacted/.test(msg)) throw new StorageError('compacted', msg);
  if (/future rev/.test(msg)) throw new StorageError('unavailable', msg);
  throw new StorageError('unavailable', `etcd: ${msg}`);
}

export class EtcdStorage implements Storage {
  private readonly client: Etcd3;

  constructor(endpoints: string[]) {
    this.client = new Etcd3({ hosts: endpoints });
  }

  async revision(): Promise<number> {
    const res = await this.client.kv
      .range({ key: Buffer.from('\0'), limit: 1, count_only: true } as IRangeRequest)
      .catch(rangeError);
    return Number(res.header.revision);
  }

  async get(key: string, revision?: number): Promise<KeyValue | undefined> {
    const res = await this.client.kv.range({ key: Buffer.from(key), revision: revision ?? 0 }).catch(rangeError);
    return res.kvs[0] ? toKv(res.kvs[0]) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    // A start key never leads before the prefix: the range stays inside it, as SQLite's query does.
    const start = opts.startKey !== undefined && opts.startKey > prefix ? opts.startKey : prefix;
    const res = await this.client.kv
      .range({
        key: Buffer.from(start),
        range_end: prefixEnd(prefix),
        revision: opts.revision ?? 0,
        limit: opts.limit ?? 0,
      })
      .catch(rangeError);
    return { kvs: res.kvs.map(toKv), revision: opts.revision || Number(res.header.revision), more: res.more };
  }

  async count(prefix: string): Promise<number> {
    const res = await this.client.kv
      .range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), count_only: true })
      .catch(rangeError);
    return Number(res.count);
  }

  async create(key: string, value: Buffer): Promise<KeyValue> {
    const k = Buffer.from(key);
    const res = await this.client.kv.txn({
      compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: k, value } }],
      failure: [],
    });
    if (!res.succeeded) throw new StorageError('exists', `key exists: ${key}`);
    const rev = Number(res.header.revision);
    return { key, value, createRevision: rev, modRevision: rev };
  }

  async update(key: string, value: Buffer, expected: number): Promise<KeyValue> {
    const k = Buffer.from(key);
    const res = await this.client.kv.txn({
      compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expected }],
      success: [{ request_put: { key: k, value, prev_kv: true } }],
      failure: [{ request_range: { key: k } }],
    });
    if (!res.succeeded) {
      const cur = res.responses[0]?.response_range.kvs[0];
      if (!cur) throw new StorageError('notFound', `key not found: ${key}`);
      throw new StorageError(
        'conflict',
        `revision mismatch for ${key}: expected ${expected}, current ${cur.mod_revision}`,
        toKv(cur),
      );
    }
    const prev = res.responses[0]?.response_put.prev_kv;
    const rev = Number(res.header.revision);
    return { key, value, createRevision: prev ? Number(prev.create_revision) : rev, modRevision: rev };
  }

  async delete(key: string, expected?: number): Promise<KeyValue> {
    const k = Buffer.from(key);
    const res = await this.client.kv.txn({
      compare:
        expected === undefined
          ? [{ key: k, target: 'Create', result: 'NotEqual', create_revision: 0 }]
          : [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expected }],
      success: [{ request_delete_range: { key: k, prev_kv: true } }],
      failure: [{ request_range: { key: k } }],
    });
    if (!res.succeeded) {
      const cur = res.responses[0]?.response_range.kvs[0];
      if (!cur) throw new StorageError('notFound', `key not found: ${key}`);
      throw new StorageError(
        'conflict',
        `revision mismatch for ${key}: expected ${expected}, current ${cur.mod_revision}`,
        toKv(cur),
      );
    }
    const prev = res.responses[0]?.response_delete_range.prev_kvs[0];
    if (!prev) throw new StorageError('notFound', `key not found: ${key}`);
    return toKv(prev);
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: StorageError) => void,
  ): Watch {
    let cancelled = false;
    const builder = this.client.watch().prefix(prefix).withPreviousKV();
    // etcd's start revision is inclusive; ours is "after".
    if (fromRevision > 0) builder.startRevision(String(fromRevision + 1));
    const pending = builder.create().then((w) => {
      if (cancelled) void w.cancel();
      w.on('data', (res) => {
        if (res.compact_revision && res.compact_revision !== '0') {
          cancelled = true;
          void w.cancel();
          onError(
            new StorageError(
              'compacted',
              `required revision ${fromRevision} has been compacted (compact revision ${res.compact_revision})`,
            ),
          );
          return;
        }
        if (cancelled) return;
        for (const ev of res.events) {
          const kv = toKv(ev.kv);
          const prev = ev.prev_kv ? toKv(ev.prev_kv) : undefined;
          if (ev.type === 'Delete')
            onEvent({
              type: 'delete',
              kv: { ...kv, value: prev?.value ?? kv.value, createRevision: prev?.createRevision ?? kv.createRevision },
              prev,
            });
          else onEvent({ type: 'put', kv, prev });
        }
      });
      w.on('error', (err) => {
        if (cancelled) return;
        cancelled = true;
        // etcd cancels a watch whose start was compacted, and the client reports only "Watcher canceled":
        // reading at that revision tells whether that was the reason.
        void this.get(prefix, fromRevision + 1).then(
          () => onError(new StorageError('unavailable', String(err))),
          (probe: StorageError) =>
            onError(probe.code === 'compacted' ? probe : new StorageError('unavailable', String(err))),
        );
      });
      return w;
    });
    pending.catch((err: unknown) => onError(new StorageError('unavailable', String(err))));
    return {
      cancel: () => {
        cancelled = true;
        void pending.then((w) => w.cancel()).catch(() => undefined);
      },
    };
  }

  async compact(revision: number): Promise<void> {
    await this.client.kv.compact({ revision, physical: true }).catch((err: unknown) => {
      if (!/compacted/.test(String(err))) throw err;
    });
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
