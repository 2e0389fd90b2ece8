/** What several components ask of Services, answered once. */
import type { KObject } from './object.js';
import { isIpv4 } from './validation.js';

/** The ingress IPs a Service's status holds (its LoadBalancer addresses). */
export function ingressIps(s: KObject): string[] {
  const ingress = (s.status as { loadBalancer?: { ingress?: Array<{ ip?: string }> } } | undefined)?.loadBalancer
    ?.ingress;
  return (ingress ?? []).map((i) => i.ip).filter(isIpv4);
}

export const isLoadBalancer = (s: KObject): boolean =>
  (s.spec as { type?: string } | undefined)?.type === 'LoadBalancer';
