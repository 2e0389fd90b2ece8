/**
 * The Service variables the kubelet gives every container (Docker links' form): for the `kubernetes`
 * Service always, and for the other Services of the pod's namespace unless `enableServiceLinks` is
 * false, `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT[_<PORTNAME>]` and `<NAME>_PORT_<port>_<PROTO>...`.
 * Variables the container sets itself win.
 */
import type { KObject } from '../api/object.js';
import { isIp } from '../api/validation.js';

type ServicePort = { name?: string; port?: number; protocol?: string };

function variables(svc: KObject): Array<[string, string]> {
  const spec = (svc.spec ?? {}) as { clusterIP?: string; ports?: ServicePort[] };
  const ip = spec.clusterIP;
  const ports = (spec.ports ?? []).filter((p) => Number.isInteger(p.port));
  if (!ip || !isIp(ip) || !ports.length) return [];
  const name = (svc.metadata?.name ?? '').toUpperCase().replace(/-/g, '_');
  const out: Array<[string, string]> = [
    [`${name}_SERVICE_HOST`, ip],
    [`${name}_SERVICE_PORT`, String(ports[0]!.port)],
  ];
  for (const p of ports) {
    if (p.name) out.push([`${name}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`, String(p.port)]);
    const proto = (p.protocol ?? 'TCP').toLowerCase();
    const base = `${name}_PORT_${p.port}_${proto.toUpperCase()}`;
    out.push(
      [base, `${proto}://${ip}:${p.port}`],
      [`${base}_PROTO`, proto],
      [`${base}_PORT`, String(p.port)],
      [`${base}_ADDR`, ip],
    );
  }
  const first = ports[0]!;
  out.push([`${name}_PORT`, `${(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${first.port}`]);
  return out;
}

export function serviceEnv(pod: KObject, services: KObject[]): Array<[string, string]> {
  const ns = pod.metadata?.namespace;
  const links = (pod.spec as { enableServiceLinks?: boolean } | undefined)?.enableServiceLinks !== false;
  const chosen = services.filter(
    (s) =>
      (s.metadata?.namespace === 'default' && s.metadata?.name === 'kubernetes') ||
      (links && s.metadata?.namespace === ns),
  );
  // The pod's own namespace first, so the master `kubernetes` Service wins a clash, as in the kubelet.
  chosen.sort((a, b) => Number(a.metadata?.name === 'kubernetes') - Number(b.metadata?.name === 'kubernetes'));
  return chosen.flatMap(variables);
}
