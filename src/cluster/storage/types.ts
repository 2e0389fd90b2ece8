/**
 * Cluster state storage: the small interface the API server needs from its datastore, in etcd's terms.
 * Keys are paths (`/registry/pods/default/web`); every write gets the next global revision; reads can
 * ask for a past revision until it is compacted; watches deliver every change after a revision, in
 * order. Two backends implement it and pass one test suite: embedded SQLite and etcd v3.
 */
export interface KeyValue {
  key: string;
  value: Buffer;
  /** Revision of the write that created the key (etcd's create_revision). */
  createRevision: number;
  /** Revision of the key's latest write (the object's resourceVersion). */
  modRevision: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
  /** The value before this write, when there was one. */
  prev?: KeyValue;
}

export interface ListOptions {
  /** Read as of this revision (0 or absent: the latest). */
  revision?: number;
  /** At most this many keys; `more` says whether others follow. */
  limit?: number;
  /** Start at this key (inclusive), for paging. */
  startKey?: string;
}

export interface ListResult {
  kvs: KeyValue[];
  /** The revision the list was read at. */
  revision: number;
  more: boolean;
}

export type StorageErrorCode = 'exists' | 'notFound' | 'conflict' | 'compacted' | 'unavailable';

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    /** For `conflict`: the current value, so a caller can report it. */
    readonly current?: KeyValue,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

export interface Watch {
  cancel(): void;
}

export interface Storage {
  /** The latest revision. */
  revision(): Promise<number>;
  get(key: string, revision?: number): Promise<KeyValue | undefined>;
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** How many keys are under `prefix` now (`apiserver_storage_objects`). */
  count(prefix: string): Promise<number>;
  /** Fails with `exists` when the key is there. */
  create(key: string, value: Buffer): Promise<KeyValue>;
  /** Fails with `conflict` unless the key's modRevision is `expected`; `notFound` when it is gone. */
  update(key: string, value: Buffer, expected: number): Promise<KeyValue>;
  /** Fails with `notFound`, or `conflict` when `expected` is given and differs. Answers what was deleted. */
  delete(key: string, expected?: number): Promise<KeyValue>;
  /**
   * Deliver every change under `prefix` after `fromRevision`, in revision order, then live ones.
   * `onError` receives `compacted` when `fromRevision` is older than the history kept.
   */
  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: StorageError) => void,
  ): Watch;
  /** Forget superseded history up to `revision`. */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
