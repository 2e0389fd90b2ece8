/**
 * The dashboard's one way to the API: Kubernetes paths under `/dashboard/api/k8s`, answered as the
 * session's user. A 401 ends the session (the app goes back to its login page with the reason); any
 * other error is the API's Status, shown as the API worded it.
 */
const K8S = '/dashboard/api/k8s';
const WRITE_HEADER = { 'X-Gantry-Dashboard': '1' };

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

type Listener = (reason: string) => void;
const logoutListeners = new Set<Listener>();

/** Be told when the session ends (401), with the server's reason. */
export function onSessionEnd(fn: Listener): () => void {
  logoutListeners.add(fn);
  return () => logoutListeners.delete(fn);
}

async function fail(res: Response): Promise<never> {
  let message = `${res.status} ${res.statusText}`;
  let reason = '';
  try {
    const status = (await res.json()) as { message?: string; reason?: string };
    message = status.message ?? message;
    reason = status.reason ?? '';
  } catch {
    // Not a Status: the HTTP status says it.
  }
  if (res.status === 401) for (const fn of logoutListeners) fn(message);
  throw new ApiError(res.status, reason, message);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
}

export async function request<T>(path: string, o: RequestOptions = {}): Promise<T> {
  const method = o.method ?? 'GET';
  const headers: Record<string, string> = { Accept: o.accept ?? 'application/json' };
  if (method !== 'GET') Object.assign(headers, WRITE_HEADER);
  let body: string | undefined;
  if (o.body !== undefined) {
    headers['Content-Type'] = o.contentType ?? 'application/json';
    body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  }
  const res = await fetch(K8S + path, { method, headers, body, signal: o.signal, credentials: 'same-origin' });
  if (!res.ok) return fail(res);
  return (await res.json()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal): Promise<T> => request<T>(path, { signal });

/** Read a streamed body (a followed log, a watch) chunk by chunk until it ends or `signal` aborts. */
export async function stream(
  path: string,
  onText: (text: string) => void,
  signal: AbortSignal,
  accept = 'application/json',
): Promise<void> {
  const res = await fetch(K8S + path, { signal, headers: { Accept: accept }, credentials: 'same-origin' });
  if (!res.ok) return fail(res);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      onText(decoder.decode(value, { stream: true }));
    }
  } finally {
    // A consumer that stops (it threw, or the watch expired) closes the connection.
    void reader.cancel().catch(() => undefined);
  }
}

export interface WatchEvent<T = KObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Watch a collection from `resourceVersion`, one event per line; resolves when the server ends it. */
export async function watch<T = KObject>(
  path: string,
  resourceVersion: string,
  onEvent: (e: WatchEvent<T>) => void,
  signal: AbortSignal,
  accept?: string,
): Promise<void> {
  const sep = path.includes('?') ? '&' : '?';
  let buffered = '';
  await stream(
    `${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}`,
    (text) => {
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
      }
    },
    signal,
    accept,
  );
}

export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
    managedFields?: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface List {
  metadata: { resourceVersion: string };
  items: KObject[];
}

export interface Table {
  metadata: { resourceVersion: string };
  columnDefinitions: Array<{ name: string; type: string; priority?: number; description?: string }>;
  rows: Array<{ cells: unknown[]; object: { metadata: KObject['metadata'] } }>;
}

export const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

/** The dashboard's own login API (not Kubernetes'). */
export async function login(body: Record<string, string>): Promise<{ user: { username: string } }> {
  const res = await fetch('/dashboard/api/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...WRITE_HEADER },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  const answer = (await res.json()) as { user: { username: string }; message?: string };
  if (!res.ok) throw new ApiError(res.status, 'Unauthorized', answer.message ?? 'login failed');
  return answer;
}

export async function session(): Promise<{ username: string; groups: string[] } | undefined> {
  const res = await fetch('/dashboard/api/session', { credentials: 'same-origin' });
  if (!res.ok) return undefined;
  return ((await res.json()) as { user: { username: string; groups: string[] } }).user;
}

export async function logout(): Promise<void> {
  await fetch('/dashboard/api/logout', { method: 'POST', headers: WRITE_HEADER, credentials: 'same-origin' });
}

/** The exec WebSocket of a pod's container (channel protocol v4: stdin 0, stdout 1, stderr 2, status 3, resize 4). */
export function execSocket(namespace: string, pod: string, container: string, command: string[]): WebSocket {
  const q = new URLSearchParams({ container, stdin: 'true', stdout: 'true', stderr: 'true', tty: 'true' });
  for (const c of command) q.append('command', c);
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${K8S}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/exec?${q}`;
  const ws = new WebSocket(url, ['v4.channel.k8s.io']);
  ws.binaryType = 'arraybuffer';
  return ws;
}

/** A port-forward the server keeps for this session: the pod's port, reached at `url` on the server's machine. */
export interface PortForward {
  id: string;
  namespace: string;
  pod: string;
  port: number;
  localPort: number;
  url: string;
}

async function dashboardApi<T>(path: string, method = 'GET', body?: unknown): Promise<T> {
  const headers: Record<string, string> = method === 'GET' ? {} : { ...WRITE_HEADER };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`/dashboard/api/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (!res.ok) return fail(res);
  return (await res.json()) as T;
}

export const listForwards = (): Promise<{ items: PortForward[] }> => dashboardApi('port-forwards');
export const openForward = (namespace: string, pod: string, port: number): Promise<PortForward> =>
  dashboardApi('port-forwards', 'POST', { namespace, pod, port });
export const stopForward = (id: string): Promise<unknown> =>
  dashboardApi(`port-forwards/${encodeURIComponent(id)}`, 'DELETE');
