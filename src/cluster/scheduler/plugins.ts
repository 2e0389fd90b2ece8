/**
 * The default plugins, each a small version of kube-scheduler's of the same name: NodeReady (readiness
 * read directly, not only through the lifecycle controller's taints, which lag by the grace period),
 * NodeUnschedulable, NodeAffinity (nodeSelector and required affinity terms), TaintToleration,
 * NodeResourcesFit, InterPodAffinity and PodTopologySpread (a pod's DoNotSchedule constraints) as
 * filters; LeastAllocated, BalancedAllocation, PodTopologySpread (its ScheduleAnyway constraints, else
 * the default spreading by controller), NodeAffinity (preferred terms), TaintToleration
 * (PreferNoSchedule) and InterPodAffinity (preferred terms) as scores, weighted as kube-scheduler
 * weights them.
 */
import { SKIP, type FilterPlugin, type ScorePlugin, type Taint, type Toleration } from './framework.js';
import { interPodAffinity, interPodAffinityScore } from './interpodaffinity.js';
import { nodeMatches, termMatches } from './nodematch.js';
import { constraintsOf, spreadScore, topologySpreadFilter } from './topologyspread.js';

export const nodeReady: FilterPlugin = {
  name: 'NodeReady',
  filter: (_pod, node) => (node.ready ? undefined : "node(s) didn't have a Ready condition"),
};

const UNSCHEDULABLE_TAINT: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

export const nodeUnschedulable: FilterPlugin = {
  name: 'NodeUnschedulable',
  filter: (pod, node) =>
    !node.unschedulable || pod.tolerations.some((t) => tolerates(t, UNSCHEDULABLE_TAINT))
      ? undefined
      : 'node(s) were unschedulable',
};

export const nodeAffinity: FilterPlugin = {
  name: 'NodeAffinity',
  // No nodeSelector and no required terms: every node matches.
  prepare: (pod) => (!Object.keys(pod.nodeSelector).length && !pod.affinityTerms.length ? SKIP : undefined),
  filter: (pod, node) => (nodeMatches(pod, node) ? undefined : "node(s) didn't match Pod's node affinity/selector"),
};

/** Kubernetes' ToleratesTaint: an empty effect matches any; Exists with no key matches every taint. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  if (!t.key) return false;
  return (t.value ?? '') === (taint.value ?? '');
}

export const taintToleration: FilterPlugin = {
  name: 'TaintToleration',
  prepare: (_pod, nodes) => (nodes.some((n) => n.taints.length) ? undefined : SKIP),
  filter(pod, node) {
    for (const taint of node.taints) {
      if (taint.effect !== 'NoSchedule' && taint.effect !== 'NoExecute') continue;
      if (!pod.tolerations.some((t) => tolerates(t, taint)))
        return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
    }
    return undefined;
  },
};

export const nodeResourcesFit: FilterPlugin = {
  name: 'NodeResourcesFit',
  filter(pod, node) {
    if (node.requested.pods + 1 > node.allocatable.pods) return 'Too many pods';
    if (pod.requests.cpu && node.requested.cpu + pod.requests.cpu > node.allocatable.cpu) return 'Insufficient cpu';
    if (pod.requests.memory && node.requested.memory + pod.requests.memory > node.allocatable.memory)
      return 'Insufficient memory';
    return undefined;
  },
};

const fraction = (requested: number, allocatable: number): number =>
  allocatable > 0 ? Math.min(1, requested / allocatable) : 1;

export const leastAllocated: ScorePlugin = {
  name: 'NodeResourcesLeastAllocated',
  weight: 1,
  score(pod, node) {
    const cpu = 1 - fraction(node.scoreRequested.cpu + pod.scoreRequests.cpu, node.allocatable.cpu);
    const memory = 1 - fraction(node.scoreRequested.memory + pod.scoreRequests.memory, node.allocatable.memory);
    return ((cpu + memory) / 2) * 100;
  },
};

export const balancedAllocation: ScorePlugin = {
  name: 'NodeResourcesBalancedAllocation',
  weight: 1,
  score(pod, node) {
    const cpu = fraction(node.scoreRequested.cpu + pod.scoreRequests.cpu, node.allocatable.cpu);
    const memory = fraction(node.scoreRequested.memory + pod.scoreRequests.memory, node.allocatable.memory);
    return (1 - Math.abs(cpu - memory)) * 100;
  },
};

export const DEFAULT_FILTERS: FilterPlugin[] = [
  nodeReady,
  nodeUnschedulable,
  nodeAffinity,
  taintToleration,
  nodeResourcesFit,
  interPodAffinity,
  topologySpreadFilter,
];
/**
 * kube-scheduler's default spreading (PodTopologySpread's system defaults, by hostname, ScheduleAnyway):
 * the raw score is how many pods of the pod's own controller a node holds, normalised over the
 * feasible nodes as kube-scheduler does (fewest: 100, most: down to 0), so a Deployment's replicas
 * spread over the nodes whatever the resource scores say once requests no longer tell nodes apart.
 */
export const podTopologySpread: ScorePlugin = {
  name: 'PodTopologySpread',
  weight: 2,
  // Neither soft constraints nor a controller: every node scores 0, normalised alike.
  prepare: (pod) =>
    constraintsOf(pod).some((c) => c.whenUnsatisfiable === 'ScheduleAnyway') ||
    (!constraintsOf(pod).length && pod.owner)
      ? undefined
      : SKIP,
  // A pod's own constraints replace the default spreading (only their ScheduleAnyway ones score).
  score: (pod, node) =>
    constraintsOf(pod).length ? (spreadScore(pod, node) ?? 0) : pod.owner ? (node.podsByOwner.get(pod.owner) ?? 0) : 0,
  normalize(raw) {
    const max = Math.max(...raw);
    const min = Math.min(...raw);
    return raw.map((s) => (max === 0 ? 100 : (100 * (max + min - s)) / max));
  },
};

/** Preferred node affinity: the weights of the preferences a node matches, scaled so the best is 100. */
export const nodeAffinityScore: ScorePlugin = {
  name: 'NodeAffinity',
  weight: 2,
  prepare: (pod) => (pod.preferredNodeTerms.length ? undefined : SKIP),
  score(pod, node) {
    let total = 0;
    for (const p of pod.preferredNodeTerms) if (p.preference && termMatches(p.preference, node)) total += p.weight;
    return total;
  },
  normalize(raw) {
    const max = Math.max(...raw);
    return max > 0 ? raw.map((v) => (v * 100) / max) : raw;
  },
};

/** PreferNoSchedule taints the pod does not tolerate: the fewer, the better (reversed onto 0..100). */
export const taintTolerationScore: ScorePlugin = {
  name: 'TaintToleration',
  weight: 3,
  prepare: (_pod, feasible) => (feasible.some((n) => n.taints.length) ? undefined : SKIP),
  score(pod, node) {
    let n = 0;
    for (const t of node.taints)
      if (t.effect === 'PreferNoSchedule' && !pod.tolerations.some((x) => tolerates(x, t))) n++;
    return n;
  },
  normalize(raw) {
    const max = Math.max(...raw);
    return raw.map((v) => (max > 0 ? 100 - (v * 100) / max : 100));
  },
};

export const DEFAULT_SCORES: ScorePlugin[] = [
  leastAllocated,
  balancedAllocation,
  podTopologySpread,
  nodeAffinityScore,
  taintTolerationScore,
  interPodAffinityScore,
];
