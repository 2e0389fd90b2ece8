/** What several components ask of pods and nodes, answered once. */
import type { KObject } from './object.js';
import type { NodeCondition, NodeStatus, PodCondition, PodSpec, PodStatus } from './types.js';
import { isIpv4 } from './validation.js';

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

export const nodeConditions = (n: KObject): NodeCondition[] =>
  ((n.status ?? {}) as { conditions?: NodeCondition[] }).conditions ?? [];

export function isNodeReady(n: KObject): boolean {
  return nodeConditions(n).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The range node IPAM gave a node (`spec.podCIDR`), if any. */
export function nodePodCidr(n: KObject): string | undefined {
  const v = (n.spec as { podCIDR?: unknown } | undefined)?.podCIDR;
  return typeof v === 'string' && v ? v : undefined;
}

/** A node's InternalIP, when it reports a valid IPv4 one. */
export function nodeInternalIp(n: KObject): string | undefined {
  const ip = ((n.status ?? {}) as NodeStatus).addresses?.find((a) => a.type === 'InternalIP')?.address;
  return isIpv4(ip) ? ip : undefined;
}
