/**
 * Which backend an Ingress request goes to, by Kubernetes' rules (pure, for the ingress proxy): rules
 * with the request's exact host first, then wildcard hosts (`*.example.com`, one label), then rules
 * without a host; within them the longest matching path, `Exact` before `Prefix` at the same length,
 * `Prefix` matching whole path elements (`/foo` matches `/foo/bar`, not `/foobar`); when nothing
 * matches, a default backend. Only Ingresses of the `gantry` class count. Also which TLS secret
 * serves a server name.
 */
import { isGantryIngress as ours } from '../api/ingress.js';
import type { KObject } from '../api/object.js';

export interface Backend {
  namespace: string;
  service: string;
  port: { number?: number; name?: string };
}

type Path = { path?: string; pathType?: string; backend?: { service?: { name?: string; port?: Backend['port'] } } };
type Rule = { host?: string; http?: { paths?: Path[] } };
type IngressSpec = {
  ingressClassName?: string;
  rules?: Rule[];
  defaultBackend?: Path['backend'];
  tls?: Array<{ hosts?: string[]; secretName?: string }>;
};

const specOf = (i: KObject): IngressSpec => (i.spec ?? {}) as IngressSpec;

/** 2: the host exactly; 1: a wildcard matching it; 0: a rule for any host; -1: no match. */
function hostMatch(ruleHost: string | undefined, host: string): number {
  if (!ruleHost) return 0;
  if (ruleHost === host) return 2;
  if (ruleHost.startsWith('*.')) {
    const dot = host.indexOf('.');
    return dot > 0 && host.slice(dot + 1) === ruleHost.slice(2) ? 1 : -1;
  }
  return -1;
}

/** How long a path matches (its length), or -1. */
function pathMatch(p: Path, requestPath: string): number {
  const want = p.path ?? '/';
  if (p.pathType === 'Exact') return requestPath === want ? want.length : -1;
  const parts = want.split('/').filter(Boolean);
  const have = requestPath.split('/').filter(Boolean);
  return parts.every((part, i) => have[i] === part) ? want.replace(/\/+$/, '').length : -1;
}

const backendOf = (namespace: string, b: Path['backend']): Backend | undefined =>
  b?.service?.name ? { namespace, service: b.service.name, port: b.service.port ?? {} } : undefined;

export function routeFor(ingresses: KObject[], host: string, requestPath: string): Backend | undefined {
  const path = requestPath.split('?')[0] || '/';
  let best: { backend: Backend; hostRank: number; length: number; exact: boolean } | undefined;
  for (const ing of ingresses.filter(ours)) {
    const ns = ing.metadata?.namespace ?? 'default';
    for (const rule of specOf(ing).rules ?? []) {
      const hostRank = hostMatch(rule.host, host);
      if (hostRank < 0) continue;
      for (const p of rule.http?.paths ?? []) {
        const length = pathMatch(p, path);
        const backend = backendOf(ns, p.backend);
        if (length < 0 || !backend) continue;
        const exact = p.pathType === 'Exact';
        const better =
          !best ||
          hostRank > best.hostRank ||
          (hostRank === best.hostRank && (length > best.length || (length === best.length && exact && !best.exact)));
        if (better) best = { backend, hostRank, length, exact };
      }
    }
  }
  if (best) return best.backend;
  for (const ing of ingresses.filter(ours)) {
    const b = backendOf(ing.metadata?.namespace ?? 'default', specOf(ing).defaultBackend);
    if (b) return b;
  }
  return undefined;
}

/** The TLS secret for a server name: an entry naming the host (or a wildcard of it). */
export function tlsSecretFor(
  ingresses: KObject[],
  serverName: string,
): { namespace: string; name: string } | undefined {
  for (const ing of ingresses.filter(ours))
    for (const t of specOf(ing).tls ?? [])
      if (t.secretName && (t.hosts ?? []).some((h) => hostMatch(h, serverName) > 0))
        return { namespace: ing.metadata?.namespace ?? 'default', name: t.secretName };
  return undefined;
}
