/**
 * Lists that follow the cluster: read once, then watched from the list's resourceVersion; every
 * change reads the list again (coalesced), so what is shown is always a real answer of the API in the
 * server's own columns. A watch the server ends (or a 410) starts over from a fresh list.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, request, watch, type KObject, type List, type Table, TABLE } from './api';

export interface Live<T> {
  data?: T;
  error?: string;
}

function useLive<T extends { metadata: { resourceVersion: string } }>(
  listPath: string | undefined,
  read: (signal: AbortSignal) => Promise<T>,
): Live<T> {
  const [state, setState] = useState<Live<T>>({});
  useEffect(() => {
    if (!listPath) return;
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const refresh = (): Promise<T> =>
      read(abort.signal).then((data) => {
        setState({ data });
        return data;
      });
    const loop = async (): Promise<void> => {
      while (!abort.signal.aborted) {
        try {
          const first = await refresh();
          await watch(
            listPath,
            first.metadata.resourceVersion,
            (e) => {
              if (e.type === 'BOOKMARK') return;
              clearTimeout(timer);
              timer = setTimeout(() => void refresh().catch(() => undefined), 250);
            },
            abort.signal,
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
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [listPath]);
  return state;
}

/** A collection as the server's Table (kubectl's columns), kept current. */
export function useLiveTable(path: string | undefined): Live<Table> {
  return useLive(path, (signal) => request<Table>(path!, { accept: TABLE, signal }));
}

/** A collection's objects, kept current. */
export function useLiveList(path: string | undefined): Live<List> {
  return useLive(path, (signal) => request<List>(path!, { signal }));
}

/** One object, kept current (a watch of its collection narrowed to its name). */
export function useLiveObject(collection: string, name: string): Live<KObject> {
  const path = `${collection}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
  const live = useLiveList(path);
  if (live.data && live.data.items.length === 0) return { error: live.error ?? `"${name}" not found` };
  return { data: live.data?.items[0], error: live.error };
}
