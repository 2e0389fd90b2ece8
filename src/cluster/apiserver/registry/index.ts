/**
 * Every built-in resource the API server serves, in discovery order, each with its strategy. Adding a
 * kind is one strategy file (or, for a kind with no behaviour of its own, a `plain` line) and one line
 * here.
 */
import { resourceType, type ResourceType } from '../resources.js';
import { customResourceDefinitions } from './apiextensions/crd.js';
import { daemonSets, deployments, replicaSets, replicationControllers, statefulSets } from './apps/workloads.js';
import { REVIEWS } from './authorization/reviews.js';
import { cronJobs, jobs } from './batch/job.js';
import { certificateSigningRequests } from './certificates/csr.js';
import { configMaps, secrets } from './core/configdata.js';
import { endpoints } from './core/endpoints.js';
import { events, eventsV1 } from './core/event.js';
import { namespaces } from './core/namespace.js';
import { nodes } from './core/node.js';
import { persistentVolumeClaims, persistentVolumes } from './core/persistentvolume.js';
import { pods } from './core/pod.js';
import { podTemplates } from './core/podtemplate.js';
import { serviceAccounts } from './core/serviceaccount.js';
import { services } from './core/service.js';
import { endpointSlices } from './discovery/endpointslice.js';
import { podDisruptionBudgets } from './policy/pdb.js';
import { horizontalPodAutoscalers } from './autoscaling/hpa.js';
import { nodeMetricsStrategy, podMetricsStrategy } from './metrics/metrics.js';
import { storageClasses } from './storage/storageclass.js';
import { apiServicesStrategy } from './apiregistration/apiservice.js';
import { ingressClasses, ingresses } from './networking/ingress.js';
import { networkPolicies } from './networking/networkpolicy.js';
import { clusterRoleBindings, clusterRoles, roleBindings, roles } from './rbac/rbac.js';
import type { Strategy } from './strategy.js';
import { ageColumn, nameColumn, spec } from '../tables.js';

/** A kind with no behaviour of its own; `generation` when spec changes bump it. */
const plain = (
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  opts: Parameters<typeof resourceType>[5] & { generation?: boolean } = {},
): Strategy => ({
  resource: resourceType(group, version, kind, plural, namespaced, opts),
  generation: opts.generation,
});

export const STRATEGIES: Strategy[] = [
  namespaces,
  pods,
  services,
  endpoints,
  nodes,
  configMaps,
  secrets,
  events,
  serviceAccounts,
  replicationControllers,
  persistentVolumes,
  persistentVolumeClaims,
  plain('', 'v1', 'LimitRange', 'limitranges', true, { shortNames: ['limits'] }),
  plain('', 'v1', 'ResourceQuota', 'resourcequotas', true, { shortNames: ['quota'], subresources: ['status'] }),
  podTemplates,
  deployments,
  replicaSets,
  statefulSets,
  daemonSets,
  plain('apps', 'v1', 'ControllerRevision', 'controllerrevisions', true),
  jobs,
  cronJobs,
  ...horizontalPodAutoscalers,
  {
    ...plain('coordination.k8s.io', 'v1', 'Lease', 'leases', true),
    columns: [nameColumn, { name: 'Holder', type: 'string', cell: (o) => spec(o).holderIdentity ?? '' }, ageColumn],
  },
  endpointSlices,
  ingresses,
  ingressClasses,
  networkPolicies,
  roles,
  roleBindings,
  clusterRoles,
  clusterRoleBindings,
  eventsV1,
  podDisruptionBudgets,
  plain('scheduling.k8s.io', 'v1', 'PriorityClass', 'priorityclasses', false, { shortNames: ['pc'] }),
  storageClasses,
  ...REVIEWS,
  certificateSigningRequests,
  customResourceDefinitions,
  nodeMetricsStrategy,
  podMetricsStrategy,
  apiServicesStrategy,
];

export const RESOURCES: ResourceType[] = STRATEGIES.map((s) => s.resource);

const byResource = new Map<ResourceType, Strategy>(STRATEGIES.map((s) => [s.resource, s]));

/** A custom resource's strategy: spec changes bump the generation; nothing else is known of it. */
const customStrategies = new WeakMap<ResourceType, Strategy>();

export function strategyFor(r: ResourceType): Strategy {
  const known = byResource.get(r);
  if (known) return known;
  let custom = customStrategies.get(r);
  if (!custom) customStrategies.set(r, (custom = { resource: r, generation: true }));
  return custom;
}

/** A built-in resource by its plural (the preferred version where there are several). */
export function builtIn(plural: string): ResourceType {
  const r = RESOURCES.find((x) => x.plural === plural);
  if (!r) throw new Error(`no built-in resource ${plural}`);
  return r;
}
