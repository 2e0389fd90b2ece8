/**
 * Answering for LoadBalancer addresses on the node LAN, as a layer-2 load balancer's speaker does: every
 * LoadBalancer Service's ingress IP is added (as a /32 labelled `<dev>:lb`) to the interface holding the
 * node's address, so the LAN's ARP requests for it are answered and its packets arrive here, where the
 * service proxy forwards them to the Service's pods. Every node answers, and every node can forward, so
 * which one the LAN picks does not matter. Run when the agent is given `--announce-load-balancers`.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import type { Logger } from '../../common/log.js';
import { ingressIps, isLoadBalancer } from '../api/service.js';
import { isIpv4 } from '../api/validation.js';
import type { Informer } from '../client/informer.js';

const run = promisify(execFile);
const SETTLE_MS = 100;

/** The interface holding `address`. */
export function interfaceOf(address: string): string | undefined {
  for (const [name, addrs] of Object.entries(os.networkInterfaces()))
    if (addrs?.some((a) => a.address === address)) return name;
  return undefined;
}

/** The /32 addresses on `dev` carrying `label`: the ones this agent put there. */
async function labelled(dev: string, label: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show', 'dev', dev, 'label', label]);
  return stdout
    .split('\n')
    .map((l) => /inet (\S+)\/32/.exec(l)?.[1])
    .filter(isIpv4);
}

export class LoadBalancerAddresses {
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly services: Informer,
    private readonly nodeIp: string,
    private readonly logger: Logger,
  ) {
    const changed = (): void => this.schedule();
    services.on({ add: changed, update: changed, delete: changed });
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.running.then(() =>
        this.sync().catch((err: unknown) =>
          this.logger.warn({ err: String(err) }, 'LoadBalancer addresses not updated'),
        ),
      );
    }, SETTLE_MS);
  }

  private async sync(): Promise<void> {
    const dev = interfaceOf(this.nodeIp);
    if (!dev) throw new Error(`no interface holds the node address ${this.nodeIp}`);
    const label = `${dev}:lb`;
    const want = new Set(this.services.list().filter(isLoadBalancer).flatMap(ingressIps));
    const have = new Set(await labelled(dev, label));
    for (const ip of want)
      if (!have.has(ip)) {
        await run('ip', ['addr', 'add', `${ip}/32`, 'dev', dev, 'label', label]);
        this.logger.info({ address: ip, dev }, 'answering for a LoadBalancer address');
      }
    for (const ip of have)
      if (!want.has(ip)) {
        await run('ip', ['addr', 'del', `${ip}/32`, 'dev', dev, 'label', label]);
        this.logger.info({ address: ip, dev }, 'no longer answering for a LoadBalancer address');
      }
  }

  /** Stop answering: an agent that is gone must not draw the LAN's traffic for these addresses. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.running;
    const dev = interfaceOf(this.nodeIp);
    if (!dev) return;
    const label = `${dev}:lb`;
    for (const ip of await labelled(dev, label))
      await run('ip', ['addr', 'del', `${ip}/32`, 'dev', dev, 'label', label]).catch(() => undefined);
  }
}
