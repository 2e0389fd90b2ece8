/**
 * The datastore's latency as the Kubernetes API server reports it: `etcd_request_duration_seconds`
 * by operation and resource (for SQLite too: dashboards ask for that name), timed around every call
 * of a `Storage`.
 */
import { Histogram, type Registry } from 'prom-client';
import type { Storage, StorageError, Watch, WatchEvent } from './types.js';

/** The API server's buckets for storage requests (5 ms to 60 s). */
const BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];

/** `pods` for `/registry/core/pods/...`, `deployments.apps` for `/registry/apps/deployments/...`. */
export function resourceOfKey(key: string): string {
  const [, registry, group, plural] = key.split('/');
  if (registry !== 'registry' || !group || !plural) return 'unknown';
  return group === 'core' ? plural : `${plural}.${group}`;
}

export class InstrumentedStorage implements Storage {
  private readonly duration: Histogram<'operation' | 'type'>;
  private readonly children = new Map<string, Histogram.Internal<'operation' | 'type'>>();

  constructor(
    private readonly inner: Storage,
    registry: Registry,
  ) {
    this.duration = new Histogram({
      name: 'etcd_request_duration_seconds',
      help: 'Etcd request latency in seconds for each operation and object type.',
      labelNames: ['operation', 'type'],
      buckets: BUCKETS,
      registers: [registry],
    });
  }

  private async time<T>(operation: string, key: string, fn: () => Promise<T>): Promise<T> {
    const type = resourceOfKey(key);
    const id = `${operation} ${type}`;
    let child = this.children.get(id);
    if (!child) this.children.set(id, (child = this.duration.labels({ operation, type })));
    const start = performance.now();
    try {
      return await fn();
    } finally {
      child.observe((performance.now() - start) / 1000);
    }
  }

  revision(): Promise<number> {
    return this.inner.revision();
  }

  get(key: string, revision?: number) {
    return this.time('get', key, () => this.inner.get(key, revision));
  }

  list(prefix: string, opts?: Parameters<Storage['list']>[1]) {
    return this.time('list', prefix, () => this.inner.list(prefix, opts));
  }

  count(prefix: string): Promise<number> {
    return this.time('count', prefix, () => this.inner.count(prefix));
  }

  create(key: string, value: Buffer) {
    return this.time('create', key, () => this.inner.create(key, value));
  }

  update(key: string, value: Buffer, expected: number) {
    return this.time('update', key, () => this.inner.update(key, value, expected));
  }

  delete(key: string, expected?: number) {
    return this.time('delete', key, () => this.inner.delete(key, expected));
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvent: (e: WatchEvent) => void,
    onError: (err: StorageError) => void,
  ): Watch {
    return this.inner.watch(prefix, fromRevision, onEvent, onError);
  }

  compact(revision: number): Promise<void> {
    return this.inner.compact(revision);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
