/** The built-in IngressClass, and which Ingresses are its. */
import type { KObject } from './object.js';

export const INGRESS_CLASS = 'gantry';

/** An Ingress of the built-in class (by `ingressClassName`, or the older annotation). */
export const isGantryIngress = (i: KObject): boolean =>
  ((i.spec as { ingressClassName?: string } | undefined)?.ingressClassName ??
    i.metadata?.annotations?.['kubernetes.io/ingress.class']) === INGRESS_CLASS;

/**
 * The Service standing for the built-in ingress proxies, as k3s's `kube-system/traefik`: a
 * LoadBalancer whose endpoints are the Ready nodes' proxies, so Ingresses answer on its address too.
 */
export const INGRESS_SERVICE = { namespace: 'kube-system', name: 'gantry-ingress' } as const;

/** A node's annotation naming its ingress proxy's ports (`http=80,https=443`; a port turned off is left out). */
export const INGRESS_PORTS_ANNOTATION = 'ingress.gantry.io/ports';

export interface IngressPorts {
  http?: number;
  https?: number;
}

export function formatIngressPorts(p: IngressPorts): string {
  return (['http', 'https'] as const)
    .filter((k) => p[k])
    .map((k) => `${k}=${p[k]}`)
    .join(',');
}

/** The ports a node's annotation names; anything that is not `http|https=<1..65535>` is ignored. */
export function parseIngressPorts(text: string | undefined): IngressPorts {
  const out: IngressPorts = {};
  for (const part of (text ?? '').split(',')) {
    const m = /^(http|https)=(\d{1,5})$/.exec(part.trim());
    const port = Number(m?.[2]);
    if (m && port >= 1 && port <= 65535) out[m[1] as 'http' | 'https'] = port;
  }
  return out;
}
