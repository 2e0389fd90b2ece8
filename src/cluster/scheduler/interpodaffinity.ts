/**
 * Inter-pod affinity and anti-affinity, after kube-scheduler's InterPodAffinity plugin: required terms
 * filter (a node's topology domain — the value of `topologyKey` on it — must hold a matching pod for
 * affinity and none for anti-affinity; existing pods' anti-affinity keeps the pod out of their
 * domains), preferred terms score. What every node's pods contribute is worked out once per attempt
 * (`prepare`) so the filter is a lookup per node.
 */
import { labelSelectorMatches } from '../api/selector.js';
import {
  SKIP,
  type FilterPlugin,
  type NodeInfo,
  type PlacedPodView,
  type PodAffinityTerm,
  type PodInfo,
  type PrepareResult,
  type ScorePlugin,
} from './framework.js';

const STATE = 'InterPodAffinity';

interface AffinityState {
  /** Per required affinity term, the topology values holding a matching pod. */
  affinity: Array<Set<string>>;
  /** Whether any pod anywhere matches each required affinity term. */
  anyMatch: boolean[];
  antiAffinity: Array<Set<string>>;
  /** `key=value` domains where an existing pod's anti-affinity refuses this pod. */
  refusedBy: Set<string>;
  /** `key=value` → weight from preferred terms (anti-affinity negative). */
  preferred: Map<string, number>;
}

/**
 * Whether `term` of a pod in `namespace` selects a pod, as Kubernetes' AffinityTerm.Matches: the
 * term's namespaces are those it lists and those its `namespaceSelector` picks by their labels (`{}`:
 * all); with neither, the pod's own. Then its label selector.
 */
export function termSelects(
  term: PodAffinityTerm,
  namespace: string,
  other: { namespace: string; labels: Record<string, string> },
  namespaceLabels: PodInfo['namespaceLabels'],
): boolean {
  const listed = term.namespaces ?? [];
  const selector = term.namespaceSelector;
  const inNamespaces =
    selector === undefined && !listed.length
      ? other.namespace === namespace
      : listed.includes(other.namespace) ||
        (selector !== undefined && labelSelectorMatches(selector, namespaceLabels(other.namespace) ?? {}));
  return inNamespaces && labelSelectorMatches(term.labelSelector ?? {}, other.labels);
}

const hasRules = (pod: PodInfo): boolean =>
  !!(
    pod.podAffinity.required.length ||
    pod.podAffinity.preferred.length ||
    pod.podAntiAffinity.required.length ||
    pod.podAntiAffinity.preferred.length
  );

function prepare(pod: PodInfo, nodes: NodeInfo[]): PrepareResult {
  if (!hasRules(pod) && !nodes.some((n) => n.antiAffinityPods > 0)) {
    pod.cycle.delete(STATE);
    return SKIP;
  }
  const state: AffinityState = {
    affinity: pod.podAffinity.required.map(() => new Set()),
    anyMatch: pod.podAffinity.required.map(() => false),
    antiAffinity: pod.podAntiAffinity.required.map(() => new Set()),
    refusedBy: new Set(),
    preferred: new Map(),
  };
  const me = { namespace: pod.namespace, labels: pod.labels };
  const prefer = (key: string, value: string | undefined, weight: number): void => {
    if (value === undefined) return;
    const k = `${key}=${value}`;
    state.preferred.set(k, (state.preferred.get(k) ?? 0) + weight);
  };
  for (const node of nodes) {
    for (const [key, other] of node.pods) {
      if (key === pod.key) continue;
      visit(pod, node, other, me, state, prefer);
    }
  }
  pod.cycle.set(STATE, state);
  return undefined;
}

function visit(
  pod: PodInfo,
  node: NodeInfo,
  other: PlacedPodView,
  me: { namespace: string; labels: Record<string, string> },
  state: AffinityState,
  prefer: (key: string, value: string | undefined, weight: number) => void,
): void {
  pod.podAffinity.required.forEach((t, i) => {
    if (!termSelects(t, pod.namespace, other, pod.namespaceLabels)) return;
    state.anyMatch[i] = true;
    const v = node.labels[t.topologyKey];
    if (v !== undefined) state.affinity[i]!.add(v);
  });
  pod.podAntiAffinity.required.forEach((t, i) => {
    const v = node.labels[t.topologyKey];
    if (v !== undefined && termSelects(t, pod.namespace, other, pod.namespaceLabels)) state.antiAffinity[i]!.add(v);
  });
  for (const t of other.antiAffinity) {
    const v = node.labels[t.topologyKey];
    if (v !== undefined && termSelects(t, other.namespace, me, pod.namespaceLabels))
      state.refusedBy.add(`${t.topologyKey}=${v}`);
  }
  for (const { weight, podAffinityTerm: t } of pod.podAffinity.preferred)
    if (termSelects(t, pod.namespace, other, pod.namespaceLabels))
      prefer(t.topologyKey, node.labels[t.topologyKey], weight);
  for (const { weight, podAffinityTerm: t } of pod.podAntiAffinity.preferred)
    if (termSelects(t, pod.namespace, other, pod.namespaceLabels))
      prefer(t.topologyKey, node.labels[t.topologyKey], -weight);
}

export const interPodAffinity: FilterPlugin = {
  name: 'InterPodAffinity',
  prepare,
  filter(pod, node) {
    const state = pod.cycle.get(STATE) as AffinityState | undefined;
    if (!state) return undefined;
    for (const domain of state.refusedBy) {
      const eq = domain.indexOf('=');
      if (node.labels[domain.slice(0, eq)] === domain.slice(eq + 1))
        return "node(s) didn't satisfy existing pods anti-affinity rules";
    }
    for (const [i, t] of pod.podAffinity.required.entries()) {
      const v = node.labels[t.topologyKey];
      // The first pod of a group that selects itself may go anywhere its term's topology exists.
      const selfMatch = !state.anyMatch[i] && termSelects(t, pod.namespace, pod, pod.namespaceLabels);
      if (v === undefined || (!state.affinity[i]!.has(v) && !selfMatch))
        return "node(s) didn't match pod affinity rules";
    }
    for (const [i, t] of pod.podAntiAffinity.required.entries()) {
      const v = node.labels[t.topologyKey];
      if (v !== undefined && state.antiAffinity[i]!.has(v)) return "node(s) didn't match pod anti-affinity rules";
    }
    return undefined;
  },
};

/** Min-max onto 0..100, as kube-scheduler normalizes InterPodAffinity scores. */
function minMax(raw: number[]): number[] {
  const min = Math.min(0, ...raw);
  const max = Math.max(0, ...raw);
  return max === min ? raw.map(() => 0) : raw.map((v) => Math.round(((v - min) * 100) / (max - min)));
}

export const interPodAffinityScore: ScorePlugin = {
  name: 'InterPodAffinity',
  weight: 2,
  // No preferred terms: every node scores 0.
  prepare: (pod) => ((pod.cycle.get(STATE) as AffinityState | undefined)?.preferred.size ? undefined : SKIP),
  score(pod, node) {
    const state = pod.cycle.get(STATE) as AffinityState | undefined;
    if (!state?.preferred.size) return 0;
    let total = 0;
    for (const [domain, weight] of state.preferred) {
      const eq = domain.indexOf('=');
      if (node.labels[domain.slice(0, eq)] === domain.slice(eq + 1)) total += weight;
    }
    return total;
  },
  normalize: minMax,
};
