/**
 * Prometheus metrics, the way every Gantry process exposes them: one registry per process (prom-client),
 * the process and Node.js runtime metrics in it, and the text exposition format served on `/metrics`.
 * Components take the registry and register their own metrics under the names Docker and Kubernetes
 * use, so dashboards and alerts written for those work unchanged.
 */
import http from 'node:http';
import { collectDefaultMetrics, Histogram, Registry, type LabelValues } from 'prom-client';
import type { Logger } from './log.js';

/** A registry with the process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...). */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges that prom-client names like counters: `promtool check metrics` rejects them, and nothing
  // Docker or Kubernetes users query is lost without them.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
    registry.removeSingleMetric(name);
  return registry;
}

/** Metrics kept in other threads of this process (a worker's own registry), by the registry they join. */
const threadMetrics = new WeakMap<Registry, Set<() => Promise<string>>>();

/** Append `source`'s text to `registry`'s on every scrape until the answered function is called. */
export function addThreadMetrics(registry: Registry, source: () => Promise<string>): () => void {
  let sources = threadMetrics.get(registry);
  if (!sources) threadMetrics.set(registry, (sources = new Set()));
  sources.add(source);
  return () => sources.delete(source);
}

/** Answer a scrape: the registry's text exposition, then that of the threads joined to it. */
export async function writeMetrics(registry: Registry, res: http.ServerResponse): Promise<void> {
  const parts = await Promise.all([registry.metrics(), ...[...(threadMetrics.get(registry) ?? [])].map((s) => s())]);
  const body = parts
    .filter(Boolean)
    .join('\n')
    .replace(/\n{3,}/g, '\n\n');
  res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * A plain-HTTP listener serving only `/metrics` (dockerd's `--metrics-addr`, kube-scheduler's
 * `--metrics-bind-address`): `host:port`, loopback unless the operator says otherwise.
 */
export function serveMetrics(registry: Registry, address: string, logger: Logger): Promise<http.Server> {
  const { host, port } = parseMetricsAddress(address);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://metrics');
    if (url.pathname !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('404 page not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'GET, HEAD' });
      res.end('method not allowed\n');
      return;
    }
    writeMetrics(registry, res).catch((err: unknown) => {
      logger.warn({ err: String(err) }, 'metrics scrape failed');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      logger.info({ address }, 'metrics listening');
      resolve(server);
    });
  });
}

/** `host:port` or `[v6]:port`, with the port in range: refused with the flag's own wording otherwise. */
export function parseMetricsAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`invalid metrics address ${JSON.stringify(address)}: give host:port`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Run `fn`, observing its duration in seconds whether it succeeds or throws. */
export async function timed<T, L extends string>(
  histogram: Histogram<L>,
  labels: LabelValues<L>,
  fn: () => Promise<T>,
): Promise<T> {
  const end = histogram.startTimer(labels);
  try {
    return await fn();
  } finally {
    end();
  }
}
