/** What several components ask of pods and nodes, answered once. */
import type { KObject } from './object.js';
import type { NodeCondition, PodCondition, PodSpec, PodStatus } from './types.js';

export const podSpec = (p: KObject): PodSpec => (p.spec ?? {}) as PodSpec;
export const podStatus = (p: KObject): PodStatus => (p.status ?? {}) as PodStatus;

export function podCondition(p: KObject, type: string): PodCondition | undefined {
  return podStatus(p).conditions?.find((c) => c.type === type);
}

export const isPodReady = (p: KObject): boolean => podCondition(p, 'Ready')?.status === 'True';

/** Not being deleted and not finished. */
export const isPodActive = (p: KObject): boolean =>
  !p.metadata?.deletionTimestamp && !['Succeeded', 'Failed'].includes(podStatus(p).phase ?? '');

export const isPodTerminal = (p: KObject): boolean => ['Succeeded', 'Failed'].includes(podStatus(p).phase ?? '');

export function isNodeReady(n: KObject): boolean {
  const conditions = ((n.status ?? {}) as { conditions?: NodeCondition[] }).conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}
