/**
 * LoadBalancer addresses, as MetalLB's controller hands them out in layer-2 mode: a Service of type
 * LoadBalancer gets `status.loadBalancer.ingress[0].ip` from the pool `--lb-range`, and gives it back
 * when it stops being one. The addresses in use are read from the informer, so a restart never hands
 * one out twice. The agents answer for them on the node LAN (`agent/lbaddresses`) and their service
 * proxy forwards them as it does cluster IPs.
 */
import { isNotFound } from '../api/errors.js';
import type { Logger } from '../../common/log.js';
import { intToIp, ipToInt, parseCidr } from '../../network/ipnet.js';
import { isIpv4 } from '../api/validation.js';
import type { KObject } from '../api/object.js';
import { ingressIps, isLoadBalancer } from '../api/service.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';

/** First and last address of the pool, inclusive. */
export interface AddressPool {
  first: number;
  last: number;
}

/** `192.168.49.200-192.168.49.250` or a CIDR (every address of it). */
export function parseLbRange(text: string): AddressPool {
  const bad = (): Error =>
    new Error(`invalid --lb-range ${JSON.stringify(text)}: give FIRST-LAST (two IPv4 addresses) or a CIDR`);
  if (text.includes('-')) {
    const [a, b, ...rest] = text.split('-');
    if (rest.length || !isIpv4(a) || !isIpv4(b)) throw bad();
    const pool = { first: ipToInt(a), last: ipToInt(b) };
    if (pool.first > pool.last) throw bad();
    return pool;
  }
  let s;
  try {
    s = parseCidr(text);
  } catch {
    throw bad();
  }
  return { first: s.base, last: s.base + 2 ** (32 - s.bits) - 1 };
}

export class ServiceLbController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly services: Informer,
    private readonly pool: AddressPool,
    private readonly logger: Logger,
  ) {
    const enqueue = (s: KObject): void => this.queue.add(`${s.metadata?.namespace}/${s.metadata?.name}`);
    services.on({ add: enqueue, update: (_o, s) => enqueue(s), delete: () => undefined });
  }

  run(): Promise<void> {
    // One worker: two Services are never given the same address by concurrent syncs.
    return this.queue.run('servicelb', (key) => this.sync(key), this.logger, 1);
  }

  private inUse(except: string): Set<number> {
    const used = new Set<number>();
    for (const s of this.services.list())
      if (`${s.metadata?.namespace}/${s.metadata?.name}` !== except)
        for (const ip of ingressIps(s)) used.add(ipToInt(ip));
    return used;
  }

  async sync(key: string): Promise<void> {
    const svc = this.services.get(key);
    if (!svc) return;
    const have = ingressIps(svc);
    const used = this.inUse(key);
    let want: string[] = [];
    if (isLoadBalancer(svc)) {
      const kept = have.filter((ip) => !used.has(ipToInt(ip)) && this.inPool(ip));
      if (kept.length) want = kept.slice(0, 1);
      else {
        let free: number | undefined;
        for (let a = this.pool.first; a <= this.pool.last && free === undefined; a++) if (!used.has(a)) free = a;
        if (free === undefined) {
          this.logger.warn({ service: key }, 'no LoadBalancer address left in --lb-range');
          return;
        }
        want = [intToIp(free)];
      }
    }
    if (want.join() === have.join()) return;
    const [ns, name] = key.split('/') as [string, string];
    try {
      await this.client.mergePatch(`${collectionPath('v1', 'services', ns)}/${name}/status`, {
        status: { loadBalancer: want.length ? { ingress: want.map((ip) => ({ ip, ipMode: 'VIP' })) } : {} },
      });
      this.logger.info({ service: key, ingress: want }, 'LoadBalancer address set');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private inPool(ip: string): boolean {
    const n = ipToInt(ip);
    return n >= this.pool.first && n <= this.pool.last;
  }
}
