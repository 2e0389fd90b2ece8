/**
 * Preemption, after kube-scheduler's DefaultPreemption: when no node fits a pod, find a node where
 * evicting pods of lower priority makes room — every other filter must already pass there — and
 * evict as few as possible: the lowest priorities go first, then those not needed after all are
 * spared (the "reprieve"). Of the candidates, the one whose highest victim priority is lowest wins,
 * then the one with fewest victims.
 */
import type { FilterPlugin, NodeInfo, PlacedPodView, PodInfo } from './framework.js';

export interface Preemption {
  node: NodeInfo;
  /** Keys (`namespace/name`) of the pods to evict. */
  victims: string[];
  highestVictimPriority: number;
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

/** The victims on one node, or undefined when evicting every lower-priority pod still would not do. */
export function victimsOn(pod: PodInfo, node: NodeInfo, filters: FilterPlugin[]): Preemption | undefined {
  for (const f of filters) if (!RESOURCE_FILTERS.has(f.name) && f.filter(pod, node)) return undefined;
  const lower = [...node.pods]
    .filter(([, v]) => v.priority < pod.priority)
    .sort(([, a], [, b]) => a.priority - b.priority);
  const freed = { cpu: 0, memory: 0, pods: 0 };
  const take = (v: PlacedPodView, sign: 1 | -1): void => {
    freed.cpu += sign * v.requests.cpu;
    freed.memory += sign * v.requests.memory;
    freed.pods += sign;
  };
  const chosen: Array<[string, PlacedPodView]> = [];
  for (const entry of lower) {
    if (fits(pod, node, freed)) break;
    chosen.push(entry);
    take(entry[1], 1);
  }
  if (!chosen.length || !fits(pod, node, freed)) return undefined;
  // Spare the highest-priority victims whose room is not needed after all.
  for (const entry of [...chosen].reverse()) {
    take(entry[1], -1);
    if (fits(pod, node, freed)) chosen.splice(chosen.indexOf(entry), 1);
    else take(entry[1], 1);
  }
  return {
    node,
    victims: chosen.map(([key]) => key),
    highestVictimPriority: Math.max(...chosen.map(([, v]) => v.priority)),
  };
}

/** The best node to preempt on, if any (pods with `preemptionPolicy: Never` never preempt). */
export function findPreemption(pod: PodInfo, nodes: NodeInfo[], filters: FilterPlugin[]): Preemption | undefined {
  if ((pod.pod.spec as { preemptionPolicy?: string } | undefined)?.preemptionPolicy === 'Never') return undefined;
  let best: Preemption | undefined;
  for (const node of nodes) {
    const c = victimsOn(pod, node, filters);
    if (
      c &&
      (!best ||
        c.highestVictimPriority < best.highestVictimPriority ||
        (c.highestVictimPriority === best.highestVictimPriority && c.victims.length < best.victims.length))
    )
      best = c;
  }
  return best;
}
