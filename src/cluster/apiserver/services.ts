/**
 * Service addresses: a clusterIP from the service CIDR and node ports from their range, unique across
 * the cluster. Taken addresses are read from the stored Services themselves, so nothing can drift and a
 * deleted Service's addresses are free at once.
 */
import { intToIp, ipToInt, parseCidr } from '../../network/ipnet.js';
import { isIpv4 } from '../api/validation.js';
import type { Storage } from '../storage/types.js';
import { ApiError, invalid, type KObject } from './objects.js';
import { resourceType } from './resources.js';

const SERVICES = resourceType('', 'v1', 'Service', 'services', true);

/** A 422 naming the Service and the field, with the details kubectl prints as `The Service "x" is invalid`. */
const invalidService = (svc: KObject, field: string, value: unknown, message: string): ApiError =>
  invalid(SERVICES, svc.metadata?.name ?? '', [{ field, value, message }]);

interface ServiceSpec {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  ports?: Array<{ port?: number; nodePort?: number; protocol?: string }>;
}

export class ServiceAllocator {
  private readonly cidr;

  private readonly mask: number;

  constructor(
    private readonly storage: Storage,
    private readonly serviceCidr: string,
    private readonly nodePorts: [number, number],
  ) {
    this.cidr = parseCidr(serviceCidr);
    this.mask = this.cidr.bits === 0 ? 0 : (0xffffffff << (32 - this.cidr.bits)) >>> 0;
  }

  /** The n-th address of the service range (the cluster DNS takes the tenth). */
  nthAddress(n: number): string {
    return intToIp(this.cidr.base + n);
  }

  private async taken(except?: string): Promise<{ ips: Set<string>; ports: Set<number> }> {
    const ips = new Set<string>();
    const ports = new Set<number>();
    for (const kv of (await this.storage.list('/registry/core/services/')).kvs) {
      const svc = JSON.parse(kv.value.toString()) as KObject;
      if (svc.metadata?.uid === except) continue;
      const spec = (svc.spec ?? {}) as ServiceSpec;
      if (spec.clusterIP) ips.add(spec.clusterIP);
      for (const p of spec.ports ?? []) if (p.nodePort) ports.add(p.nodePort);
    }
    return { ips, ports };
  }

  /** Fill in what the Service lacks; `cur` is the stored version on update (its address is kept). */
  async allocate(svc: KObject, cur: KObject | undefined): Promise<void> {
    const spec = (svc.spec ??= {}) as ServiceSpec;
    const old = (cur?.spec ?? {}) as ServiceSpec;
    const { ips, ports } = await this.taken(svc.metadata?.uid);
    if (old.clusterIP && spec.clusterIP && spec.clusterIP !== old.clusterIP)
      throw invalidService(
        svc,
        'spec.clusterIPs[0]',
        undefined,
        `Invalid value: []string{"${spec.clusterIP}"}: may not change once set`,
      );
    if (!spec.clusterIP && old.clusterIP) spec.clusterIP = old.clusterIP;
    for (const [i, ip] of [spec.clusterIP, ...(spec.clusterIPs ?? []).slice(1)].entries()) {
      if (!ip || ip === 'None' || ip === old.clusterIP) continue;
      const inRange = isIpv4(ip) && (ipToInt(ip) & this.mask) >>> 0 === this.cidr.base;
      if (!inRange) {
        throw invalidService(
          svc,
          `spec.clusterIPs[${i}]`,
          ip,
          isIpv4(ip)
            ? `provided IP is not in the valid range. The range of valid IPs is ${this.serviceCidr}`
            : 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
        );
      }
    }
    if (spec.clusterIPs?.[0] && spec.clusterIP && spec.clusterIPs[0] !== spec.clusterIP)
      throw invalidService(
        svc,
        'spec.clusterIPs[0]',
        spec.clusterIPs[0],
        'must match clusterIP when both are specified',
      );
    if (spec.clusterIP && spec.clusterIP !== 'None' && !old.clusterIP && ips.has(spec.clusterIP)) {
      throw invalidService(
        svc,
        'spec.clusterIPs',
        undefined,
        `Invalid value: []string{"${spec.clusterIP}"}: failed to allocate IP ${spec.clusterIP}: provided IP is already allocated`,
      );
    }
    if (!spec.clusterIP) {
      const size = 2 ** (32 - this.cidr.bits);
      // The first address belongs to the `kubernetes` Service, as in Kubernetes.
      const first = svc.metadata?.name === 'kubernetes' && svc.metadata.namespace === 'default' ? 1 : 10;
      let found: string | undefined;
      for (let i = first; i < size - 1 && !found; i++) {
        const ip = intToIp(this.cidr.base + i);
        if (!ips.has(ip)) found = ip;
      }
      if (!found)
        throw new ApiError(
          500,
          'InternalError',
          'Internal error occurred: failed to allocate a serviceIP: range is full',
        );
      spec.clusterIP = found;
    }
    spec.clusterIPs = [spec.clusterIP];
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
      for (const [i, p] of (spec.ports ?? []).entries()) {
        const kept = old.ports?.find(
          (o) => o.port === p.port && (o.protocol ?? 'TCP') === (p.protocol ?? 'TCP'),
        )?.nodePort;
        if (p.nodePort) {
          if (p.nodePort < this.nodePorts[0] || p.nodePort > this.nodePorts[1])
            throw invalidService(
              svc,
              `spec.ports[${i}].nodePort`,
              p.nodePort,
              `provided port is not in the valid range. The range of valid ports is ${this.nodePorts[0]}-${this.nodePorts[1]}`,
            );
          if (ports.has(p.nodePort) && p.nodePort !== kept)
            throw invalidService(svc, `spec.ports[${i}].nodePort`, p.nodePort, 'provided port is already allocated');
        } else if (kept) p.nodePort = kept;
        else {
          const span = this.nodePorts[1] - this.nodePorts[0] + 1;
          const start = Math.floor(Math.random() * span);
          for (let i = 0; i < span; i++) {
            const port = this.nodePorts[0] + ((start + i) % span);
            if (!ports.has(port)) {
              p.nodePort = port;
              ports.add(port);
              break;
            }
          }
        }
      }
    } else for (const p of spec.ports ?? []) delete p.nodePort;
  }
}
