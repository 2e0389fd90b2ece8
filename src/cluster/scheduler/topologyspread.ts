/**
 * A pod's own `topologySpreadConstraints`, after kube-scheduler's PodTopologySpread: matching pods
 * (its namespace, the constraint's labelSelector) are counted per topology domain over the nodes the
 * pod could go to (its nodeSelector and required affinity honoured); `DoNotSchedule` filters out a
 * domain whose count would exceed the least-loaded domain's by more than `maxSkew`, `ScheduleAnyway`
 * scores emptier domains higher. Counting happens once per attempt (`prepare`).
 */
import { labelSelectorMatches, type LabelSelector } from '../api/selector.js';
import { SKIP, type FilterPlugin, type NodeInfo, type PodInfo, type PrepareResult } from './framework.js';
import { nodeMatches } from './nodematch.js';

const STATE = 'PodTopologySpread';

export interface SpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway';
  labelSelector?: LabelSelector;
  minDomains?: number;
}

interface SpreadState {
  /** Per constraint, matching pods per domain value (every eligible domain present, maybe 0). */
  counts: Array<Map<string, number>>;
  selfMatch: boolean[];
}

export const constraintsOf = (pod: PodInfo): SpreadConstraint[] =>
  (
    (pod.pod.spec as { topologySpreadConstraints?: SpreadConstraint[] } | undefined)?.topologySpreadConstraints ?? []
  ).filter((c) => c?.topologyKey && c.maxSkew > 0);

function prepare(pod: PodInfo, nodes: NodeInfo[]): PrepareResult {
  const constraints = constraintsOf(pod);
  if (!constraints.length) {
    pod.cycle.delete(STATE);
    return SKIP;
  }
  const eligible = nodes.filter((n) => nodeMatches(pod, n));
  const state: SpreadState = {
    counts: constraints.map(() => new Map()),
    selfMatch: constraints.map((c) => labelSelectorMatches(c.labelSelector ?? {}, pod.labels)),
  };
  constraints.forEach((c, i) => {
    const counts = state.counts[i]!;
    for (const node of eligible) {
      const domain = node.labels[c.topologyKey];
      if (domain === undefined) continue;
      let n = counts.get(domain) ?? 0;
      for (const [key, other] of node.pods)
        if (
          key !== pod.key &&
          other.namespace === pod.namespace &&
          labelSelectorMatches(c.labelSelector ?? {}, other.labels)
        )
          n++;
      counts.set(domain, n);
    }
  });
  pod.cycle.set(STATE, state);
  // The counts serve the score too; with no DoNotSchedule constraint the filter passes every node.
  return constraints.some((c) => c.whenUnsatisfiable === 'DoNotSchedule') ? undefined : SKIP;
}

export const topologySpreadFilter: FilterPlugin = {
  name: 'PodTopologySpread',
  prepare,
  filter(pod, node) {
    const state = pod.cycle.get(STATE) as SpreadState | undefined;
    if (!state) return undefined;
    for (const [i, c] of constraintsOf(pod).entries()) {
      if (c.whenUnsatisfiable !== 'DoNotSchedule') continue;
      const domain = node.labels[c.topologyKey];
      if (domain === undefined) return "node(s) didn't match pod topology spread constraints (missing required label)";
      const counts = state.counts[i]!;
      // Fewer domains than minDomains: the minimum counts as 0.
      const min = counts.size < (c.minDomains ?? 1) ? 0 : Math.min(...counts.values());
      const skew = (counts.get(domain) ?? 0) + (state.selfMatch[i] ? 1 : 0) - min;
      if (skew > c.maxSkew) return "node(s) didn't match pod topology spread constraints";
    }
    return undefined;
  },
};

/** ScheduleAnyway constraints: the matching pods in a node's domains (fewer is better). */
export function spreadScore(pod: PodInfo, node: NodeInfo): number | undefined {
  const state = pod.cycle.get(STATE) as SpreadState | undefined;
  const soft = constraintsOf(pod)
    .map((c, i) => [c, i] as const)
    .filter(([c]) => c.whenUnsatisfiable === 'ScheduleAnyway');
  if (!state || !soft.length) return undefined;
  let total = 0;
  for (const [c, i] of soft) total += state.counts[i]!.get(node.labels[c.topologyKey] ?? '') ?? 0;
  return total;
}
