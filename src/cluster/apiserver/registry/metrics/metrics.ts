/**
 * The resource metrics API (`metrics.k8s.io/v1beta1`), served as metrics-server serves it: NodeMetrics
 * and PodMetrics computed on request from the node agents' Summary API (`/stats/summary`, CPU as a
 * rate over the agents' sampling window, memory as the working set), never stored. What `kubectl top`
 * and the HorizontalPodAutoscaler read. A node whose agent does not answer is left out, as
 * metrics-server leaves out nodes it cannot scrape.
 */
import type { Summary } from '../../../agent/resourcestats.js';
import { agentJson } from '../../nodeproxy.js';
import { listObjects } from '../list.js';
import { ApiError, type KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import type { RegistryContext, Strategy, Target } from '../strategy.js';

const API_VERSION = 'metrics.k8s.io/v1beta1';
/** Answers are reused this long: kubectl top lists nodes and then their metrics, the HPA every 15 s. */
const CACHE_MS = 2000;

const cache = new Map<string, { at: number; summary: Promise<Summary | undefined> }>();

function summaryOf(ctx: RegistryContext, node: string): Promise<Summary | undefined> {
  const hit = cache.get(node);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.summary;
  const summary = agentJson<Summary>(ctx, node, '/stats/summary').catch((err: unknown) => {
    ctx.logger.debug({ node, err: String(err) }, 'no resource metrics from node');
    return undefined;
  });
  cache.set(node, { at: Date.now(), summary });
  return summary;
}

const cpu = (nanoCores: number): string => `${Math.round(nanoCores)}n`;
const memory = (bytes: number): string => `${Math.round(bytes / 1024)}Ki`;

async function listed(ctx: RegistryContext, plural: string, namespace?: string): Promise<KObject[]> {
  const items: KObject[] = [];
  let token: string | undefined;
  do {
    const q = new URLSearchParams(token ? { continue: token } : {});
    const page = await listObjects(ctx.storage, q, { res: ctx.resource(plural), namespace });
    items.push(...page.items);
    token = page.continueToken;
  } while (token);
  return items;
}

function nodeMetrics(node: KObject, s: Summary): KObject {
  return {
    kind: 'NodeMetrics',
    apiVersion: API_VERSION,
    metadata: { name: node.metadata!.name, labels: node.metadata?.labels, creationTimestamp: new Date().toISOString() },
    timestamp: s.node.cpu.time,
    window: '10s',
    usage: { cpu: cpu(s.node.cpu.usageNanoCores), memory: memory(s.node.memory.workingSetBytes) },
  };
}

function podMetrics(pod: KObject, stats: Summary['pods'][number]): KObject {
  return {
    kind: 'PodMetrics',
    apiVersion: API_VERSION,
    metadata: {
      name: pod.metadata!.name,
      namespace: pod.metadata!.namespace,
      labels: pod.metadata?.labels,
      creationTimestamp: new Date().toISOString(),
    },
    timestamp: stats.cpu.time,
    window: '10s',
    containers: stats.containers.map((c) => ({
      name: c.name,
      usage: { cpu: cpu(c.cpu.usageNanoCores), memory: memory(c.memory.workingSetBytes) },
    })),
  };
}

const nodesResource = { ...resourceType('metrics.k8s.io', 'v1beta1', 'NodeMetrics', 'nodes', false), readOnly: true };
const podsResource = { ...resourceType('metrics.k8s.io', 'v1beta1', 'PodMetrics', 'pods', true), readOnly: true };

const notFound = (t: Target): ApiError =>
  new ApiError(404, 'NotFound', `${t.res.plural}.metrics.k8s.io "${t.name}" not found`, {
    name: t.name,
    group: 'metrics.k8s.io',
    kind: t.res.plural,
  });

async function allNodeMetrics(ctx: RegistryContext, nodes: KObject[]): Promise<KObject[]> {
  const summaries = await Promise.all(nodes.map((n) => summaryOf(ctx, n.metadata!.name!)));
  return nodes.flatMap((n, i) => (summaries[i] ? [nodeMetrics(n, summaries[i])] : []));
}

/** PodMetrics of `pods`, from the summaries of the nodes they run on. */
async function allPodMetrics(ctx: RegistryContext, pods: KObject[]): Promise<KObject[]> {
  const nodeOf = (p: KObject): string | undefined => (p.spec as { nodeName?: string } | undefined)?.nodeName;
  const nodes = [...new Set(pods.map(nodeOf).filter((n): n is string => !!n))];
  const stats = new Map<string, Summary['pods'][number]>();
  for (const s of await Promise.all(nodes.map((n) => summaryOf(ctx, n))))
    for (const p of s?.pods ?? []) stats.set(p.podRef.uid, p);
  return pods.flatMap((p) => {
    const found = stats.get(p.metadata?.uid ?? '');
    return found ? [podMetrics(p, found)] : [];
  });
}

export const nodeMetricsStrategy: Strategy = {
  resource: nodesResource,
  computed: {
    async get(ctx, t) {
      const node = await ctx.store.read({ res: ctx.resource('nodes'), name: t.name }).catch(() => undefined);
      const [m] = node ? await allNodeMetrics(ctx, [node]) : [];
      if (!m) throw notFound(t);
      return m;
    },
    list: async (ctx) => allNodeMetrics(ctx, await listed(ctx, 'nodes')),
  },
};

export const podMetricsStrategy: Strategy = {
  resource: podsResource,
  computed: {
    async get(ctx, t) {
      const pod = await ctx.store
        .read({ res: ctx.resource('pods'), namespace: t.namespace, name: t.name })
        .catch(() => undefined);
      const [m] = pod ? await allPodMetrics(ctx, [pod]) : [];
      if (!m) throw notFound(t);
      return m;
    },
    list: async (ctx, t) => allPodMetrics(ctx, await listed(ctx, 'pods', t.namespace)),
  },
};
