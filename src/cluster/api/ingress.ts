/** The built-in IngressClass, and which Ingresses are its. */
import type { KObject } from './object.js';

export const INGRESS_CLASS = 'gantry';

/** An Ingress of the built-in class (by `ingressClassName`, or the older annotation). */
export const isGantryIngress = (i: KObject): boolean =>
  ((i.spec as { ingressClassName?: string } | undefined)?.ingressClassName ??
    i.metadata?.annotations?.['kubernetes.io/ingress.class']) === INGRESS_CLASS;
