/**
 * Lists that follow the cluster: read once, then watched from the list's resourceVersion, each event
 * merged into what is shown (a Table's watch sends the changed object's row in the server's own
 * columns), so a change costs one row, not a re-read. A watch the server ends, an ERROR event (410
 * Gone) or a failure starts over from a fresh list.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, request, watch, type KObject, type List, type Table, TABLE } from './api';

export interface Live<T> {
  data?: T;
  error?: string;
}

type Meta = KObject['metadata'];

/** How a kind of collection (a Table, a List) is read and changed by one watch event. */
interface Collection<T, E> {
  read(path: string, signal: AbortSignal): Promise<T>;
  accept?: string;
  merge(current: T, type: 'ADDED' | 'MODIFIED' | 'DELETED', event: E): T;
}

const keyOf = (m: Meta): string => m.uid ?? `${m.namespace ?? ''}/${m.name}`;
/** The server's order: namespace, then name. */
const order = (a: Meta, b: Meta): number =>
  (a.namespace ?? '').localeCompare(b.namespace ?? '') || a.name.localeCompare(b.name);

/** `items` with `item` put in, replaced, or taken out (by uid), in the server's order. */
export function mergeItem<I>(items: I[], item: I, meta: (i: I) => Meta, deleted: boolean): I[] {
  const key = keyOf(meta(item));
  const rest = items.filter((i) => keyOf(meta(i)) !== key);
  if (deleted) return rest;
  const at = rest.findIndex((i) => order(meta(item), meta(i)) < 0);
  rest.splice(at < 0 ? rest.length : at, 0, item);
  return rest;
}

const tables: Collection<Table, Table> = {
  read: (path, signal) => request<Table>(path, { accept: TABLE, signal }),
  accept: TABLE,
  merge(current, type, event) {
    const row = event.rows[0];
    if (!row) return current;
    const rows = mergeItem(current.rows, row, (r) => r.object.metadata, type === 'DELETED');
    return { ...current, metadata: event.metadata, rows };
  },
};

const lists: Collection<List, KObject> = {
  read: (path, signal) => request<List>(path, { signal }),
  merge(current, type, event) {
    const items = mergeItem(current.items, event, (o) => o.metadata, type === 'DELETED');
    return { ...current, metadata: { resourceVersion: event.metadata.resourceVersion ?? '' }, items };
  },
};

function useLive<T, E>(path: string | undefined, kind: Collection<T, E>): Live<T> {
  const [state, setState] = useState<Live<T>>({});
  useEffect(() => {
    if (!path) return;
    const abort = new AbortController();
    const loop = async (): Promise<void> => {
      while (!abort.signal.aborted) {
        try {
          let current: T = await kind.read(path, abort.signal);
          setState({ data: current });
          const from = (current as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
          await watch<E>(
            path,
            from,
            (e) => {
              if (e.type === 'BOOKMARK') return;
              if (e.type === 'ERROR') throw new Error('the watch expired');
              current = kind.merge(current, e.type, e.object);
              setState({ data: current });
            },
            abort.signal,
            kind.accept,
          );
        } catch (err) {
          if (abort.signal.aborted) return;
          setState((s) => ({ ...s, error: (err as Error).message }));
          if (err instanceof ApiError && (err.code === 401 || err.code === 403 || err.code === 404)) return;
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    };
    void loop();
    return () => abort.abort();
  }, [path]);
  return state;
}

/** A collection as the server's Table (kubectl's columns), kept current. */
export function useLiveTable(path: string | undefined): Live<Table> {
  return useLive(path, tables);
}

/** A collection's objects, kept current. */
export function useLiveList(path: string | undefined): Live<List> {
  return useLive(path, lists);
}

/** One object, kept current (a watch of its collection narrowed to its name). */
export function useLiveObject(collection: string, name: string): Live<KObject> {
  const path = `${collection}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
  const live = useLiveList(path);
  if (live.data && live.data.items.length === 0) return { error: live.error ?? `"${name}" not found` };
  return { data: live.data?.items[0], error: live.error };
}
