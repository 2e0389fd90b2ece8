/**
 * Preemption, after kube-scheduler's DefaultPreemption: when no node fits a pod, find a node where
 * evicting pods of lower priority makes room — every other filter must already pass there — and
 * evict as few as possible, sparing where it can the pods a PodDisruptionBudget protects. Of the
 * candidates, the one breaking the fewest budgets wins, then the one whose highest victim priority is
 * lowest, then the one with fewest victims.
 */
import { labelSelectorMatches, type LabelSelector } from '../api/selector.js';
import type { FilterPlugin, NodeInfo, PlacedPodView, PodInfo } from './framework.js';

export interface Preemption {
  node: NodeInfo;
  /** Keys (`namespace/name`) of the pods to evict. */
  victims: string[];
  highestVictimPriority: number;
  /** Victims whose eviction a PodDisruptionBudget does not allow (evicted all the same, as a last resort). */
  budgetViolations: number;
}

/** Filters that freeing resources cannot change. */
const RESOURCE_FILTERS = new Set(['NodeResourcesFit']);

function fits(pod: PodInfo, node: NodeInfo, freed: { cpu: number; memory: number; pods: number }): boolean {
  const r = node.requested;
  const a = node.allocatable;
  return (
    r.pods - freed.pods + 1 <= a.pods &&
    (!pod.requests.cpu || r.cpu - freed.cpu + pod.requests.cpu <= a.cpu) &&
    (!pod.requests.memory || r.memory - freed.memory + pod.requests.memory <= a.memory)
  );
}

/** What preemption needs of a PodDisruptionBudget. */
export interface DisruptionBudget {
  namespace: string;
  selector: LabelSelector | undefined;
  disruptionsAllowed: number;
}

/**
 * Kubernetes' `filterPodsWithPDBViolation`: the victims (most important first) whose eviction a budget
 * of their namespace would not allow, once the earlier victims have used up what it allows.
 */
function splitByBudget(
  victims: Array<[string, PlacedPodView]>,
  budgets: DisruptionBudget[],
): { violating: Array<[string, PlacedPodView]>; sparing: Array<[string, PlacedPodView]> } {
  const allowed = budgets.map((b) => b.disruptionsAllowed);
  const violating: Array<[string, PlacedPodView]> = [];
  const sparing: Array<[string, PlacedPodView]> = [];
  for (const entry of victims) {
    const v = entry[1];
    let violates = false;
    budgets.forEach((b, i) => {
      // A budget with an empty selector covers no pod, as in Kubernetes.
      const empty = !b.selector?.matchLabels && !b.selector?.matchExpressions?.length;
      if (b.namespace !== v.namespace || empty || !labelSelectorMatches(b.selector, v.labels)) return;
      allowed[i]!--;
      if (allowed[i]! < 0) violates = true;
    });
    (violates ? violating : sparing).push(entry);
  }
  return { violating, sparing };
}

/**
 * The victims on one node, or undefined when evicting every lower-priority pod still would not do.
 * As Kubernetes' SelectVictimsOnNode: every lower-priority pod is taken away, then given back, most
 * important first — first those whose eviction would break a disruption budget, then the rest — while
 * the pod still fits.
 */
export function victimsOn(
  pod: PodInfo,
  node: NodeInfo,
  filters: FilterPlugin[],
  budgets: DisruptionBudget[] = [],
): Preemption | undefined {
  for (const f of filters) if (!RESOURCE_FILTERS.has(f.name) && f.filter(pod, node)) return undefined;
  const lower = [...node.pods]
    .filter(([, v]) => v.priority < pod.priority)
    .sort(([, a], [, b]) => b.priority - a.priority);
  const freed = { cpu: 0, memory: 0, pods: 0 };
  const take = (v: PlacedPodView, sign: 1 | -1): void => {
    freed.cpu += sign * v.requests.cpu;
    freed.memory += sign * v.requests.memory;
    freed.pods += sign;
  };
  for (const [, v] of lower) take(v, 1);
  if (!lower.length || !fits(pod, node, freed)) return undefined;
  const { violating, sparing } = splitByBudget(lower, budgets);
  const victims: Array<[string, PlacedPodView]> = [];
  let budgetViolations = 0;
  const reprieve = (entry: [string, PlacedPodView], violates: boolean): void => {
    take(entry[1], -1);
    if (fits(pod, node, freed)) return;
    take(entry[1], 1);
    victims.push(entry);
    if (violates) budgetViolations++;
  };
  for (const entry of violating) reprieve(entry, true);
  for (const entry of sparing) reprieve(entry, false);
  if (!victims.length) return undefined;
  return {
    node,
    victims: victims.map(([key]) => key),
    highestVictimPriority: Math.max(...victims.map(([, v]) => v.priority)),
    budgetViolations,
  };
}

/**
 * The best node to preempt on, if any (pods with `preemptionPolicy: Never` never preempt): as
 * Kubernetes' pickOneNodeForPreemption, the fewest disruption budgets broken, then the lowest highest
 * victim priority, then the fewest victims.
 */
export function findPreemption(
  pod: PodInfo,
  nodes: NodeInfo[],
  filters: FilterPlugin[],
  budgets: DisruptionBudget[] = [],
): Preemption | undefined {
  if ((pod.pod.spec as { preemptionPolicy?: string } | undefined)?.preemptionPolicy === 'Never') return undefined;
  let best: Preemption | undefined;
  const better = (c: Preemption, b: Preemption): boolean =>
    c.budgetViolations !== b.budgetViolations
      ? c.budgetViolations < b.budgetViolations
      : c.highestVictimPriority !== b.highestVictimPriority
        ? c.highestVictimPriority < b.highestVictimPriority
        : c.victims.length < b.victims.length;
  for (const node of nodes) {
    const c = victimsOn(pod, node, filters, budgets);
    if (c && (!best || better(c, best))) best = c;
  }
  return best;
}
