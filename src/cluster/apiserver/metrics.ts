/**
 * The API server's own metrics (`k8s.io/apiserver/pkg/endpoints/metrics`): every request counted by
 * verb, resource, scope and code, its latency, the requests in flight, watches open, and how many
 * objects of each resource are stored. Labels follow Kubernetes: verbs are `GET`, `LIST`, `WATCH`,
 * `POST`, `PUT`, `PATCH`, `APPLY`, `DELETE`; scope is `resource` for a named object, `namespace` or
 * `cluster` for a collection, empty for non-resource paths.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Storage } from '../storage/types.js';
import type { Target } from './registry/strategy.js';

type Label = 'verb' | 'dry_run' | 'group' | 'version' | 'resource' | 'subresource' | 'scope' | 'component';
type RequestLabels = Record<Label, string>;

/** The API server's latency buckets, 5 ms to 60 s. */
const BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];
/** Counting every stored object costs a query per resource: at most this often, as Kubernetes' tracker. */
const OBJECT_COUNT_MAX_AGE_MS = 30_000;

/** The verb Kubernetes reports for a request (`cleanVerb`). */
export function reportedVerb(method: string, t: Target, watching: boolean, contentType: string): string {
  if (method === 'GET') return watching ? 'WATCH' : t.name ? 'GET' : 'LIST';
  if (method === 'PATCH' && contentType === 'application/apply-patch+yaml') return 'APPLY';
  return ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) ? method : 'other';
}

export class ApiServerMetrics {
  private readonly labels = new WeakMap<IncomingMessage, RequestLabels>();
  private readonly total: Counter<Label | 'code'>;
  private readonly duration: Histogram<Label>;
  private readonly inflight: Gauge<'request_kind'>;
  private readonly longRunning: Gauge<Label>;

  constructor(
    registry: Registry,
    storage: Storage,
    /** Each stored resource's storage prefix and its name (`pods`, `deployments.apps`). */
    storedResources: () => Array<{ resource: string; prefix: string }>,
  ) {
    const registers = [registry];
    const labelNames: Label[] = [
      'verb',
      'dry_run',
      'group',
      'version',
      'resource',
      'subresource',
      'scope',
      'component',
    ];
    this.total = new Counter({
      name: 'apiserver_request_total',
      help: 'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.',
      labelNames: [...labelNames, 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.',
      labelNames,
      buckets: BUCKETS,
      registers,
    });
    this.inflight = new Gauge({
      name: 'apiserver_current_inflight_requests',
      help: 'Maximal number of currently used inflight request limit of this apiserver per request kind in last second.',
      labelNames: ['request_kind'],
      registers,
    });
    this.inflight.set({ request_kind: 'readOnly' }, 0);
    this.inflight.set({ request_kind: 'mutating' }, 0);
    this.longRunning = new Gauge({
      name: 'apiserver_longrunning_requests',
      help: 'Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way.',
      labelNames,
      registers,
    });
    let counted: { at: number; counts: Map<string, number> } | undefined;
    new Gauge({
      name: 'apiserver_storage_objects',
      help: 'Number of stored objects at the time of last check split by kind.',
      labelNames: ['resource'],
      registers,
      async collect() {
        if (!counted || Date.now() - counted.at > OBJECT_COUNT_MAX_AGE_MS) {
          const resources = storedResources();
          const counts = await Promise.all(resources.map((r) => storage.count(r.prefix)));
          counted = { at: Date.now(), counts: new Map(resources.map((r, i) => [r.resource, counts[i]!])) };
        }
        this.reset();
        for (const [resource, n] of counted.counts) this.set({ resource }, n);
      },
    });
  }

  /** Count and time `req` when its response ends; its labels are those `describe` gave, if any. */
  track(req: IncomingMessage, res: ServerResponse): void {
    const start = performance.now();
    const kind = req.method === 'GET' || req.method === 'HEAD' ? 'readOnly' : 'mutating';
    this.inflight.inc({ request_kind: kind });
    res.once('close', () => {
      this.inflight.dec({ request_kind: kind });
      const labels = this.labels.get(req) ?? nonResource(req);
      this.total.inc({ ...labels, code: String(res.statusCode) });
      if (labels.verb === 'WATCH') this.longRunning.dec(labels);
      else this.duration.observe(labels, (performance.now() - start) / 1000);
    });
  }

  /** What a resource request is, once the server has parsed it. */
  describe(req: IncomingMessage, t: Target, verb: string, dryRun: boolean): void {
    const labels: RequestLabels = {
      verb,
      dry_run: dryRun ? 'All' : '',
      group: t.res.group,
      version: t.res.version,
      resource: t.res.plural,
      subresource: t.subresource ?? '',
      scope: t.name ? 'resource' : t.namespace !== undefined ? 'namespace' : 'cluster',
      component: 'apiserver',
    };
    this.labels.set(req, labels);
    if (verb === 'WATCH') this.longRunning.inc(labels);
  }
}

function nonResource(req: IncomingMessage): RequestLabels {
  return {
    verb: req.method ?? 'other',
    dry_run: '',
    group: '',
    version: '',
    resource: '',
    subresource: '',
    scope: '',
    component: 'apiserver',
  };
}
