/**
 * A TCP load balancer in front of several API servers, for clients that can name only one (kubectl's
 * kubeconfig has one `server` per cluster). As k3s's agent load balancer: connections stay with one
 * server while it answers, so a client's requests meet one server's watch cache; a server that refuses
 * or does not answer a dial within the dial timeout is marked down and the next is tried at once; a
 * health check dials every server each interval and brings them back. TLS passes through untouched: the
 * client checks the server's certificate, so the address this listens on must be among the servers'
 * names (every Gantry server's certificate names 127.0.0.1). A failed connection closes only itself.
 */
import net from 'node:net';
import type { Logger } from '../../common/log.js';

export interface Backend {
  host: string;
  port: number;
}

export interface LoadBalancerOptions {
  backends: Backend[];
  logger: Logger;
  dialTimeoutMs?: number;
  healthIntervalMs?: number;
}

/** `https://HOST:PORT` (the form agents and kubeconfigs take) as a backend; refused with the reason otherwise. */
export function backendOf(url: string): Backend {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid server ${JSON.stringify(url)}: give https://HOST:PORT`);
  }
  if (u.protocol !== 'https:' || u.pathname !== '/' || u.search || u.username || u.password)
    throw new Error(`invalid server ${JSON.stringify(url)}: give https://HOST:PORT`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: u.port ? Number(u.port) : 443 };
}

export class LoadBalancer {
  private readonly backends: Array<Backend & { up: boolean }>;
  private current = 0;
  private readonly dialTimeoutMs: number;
  private readonly server: net.Server;
  private readonly health: NodeJS.Timeout;
  private readonly open = new Set<net.Socket>();

  constructor(private readonly o: LoadBalancerOptions) {
    if (!o.backends.length) throw new Error('a load balancer needs at least one server');
    this.backends = o.backends.map((b) => ({ ...b, up: true }));
    this.dialTimeoutMs = o.dialTimeoutMs ?? 2000;
    this.server = net.createServer((inbound) => this.accept(inbound));
    this.health = setInterval(() => void this.checkHealth(), o.healthIntervalMs ?? 2000);
    this.health.unref();
  }

  /** Listen on `host:port` (0: any free port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    clearInterval(this.health);
    for (const s of this.open) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The servers in the order a new connection tries them: the current one first, those up before those down. */
  private order(): number[] {
    const n = this.backends.length;
    const rotated = Array.from({ length: n }, (_, i) => (this.current + i) % n);
    return [...rotated.filter((i) => this.backends[i]!.up), ...rotated.filter((i) => !this.backends[i]!.up)];
  }

  private async accept(inbound: net.Socket): Promise<void> {
    inbound.pause();
    this.track(inbound);
    inbound.on('error', () => inbound.destroy());
    for (const i of this.order()) {
      if (inbound.destroyed) return;
      const backend = this.backends[i]!;
      const outbound = await this.dial(backend);
      if (!outbound) {
        this.mark(i, false);
        continue;
      }
      this.mark(i, true);
      this.current = i;
      if (inbound.destroyed) {
        outbound.destroy();
        return;
      }
      this.track(outbound);
      // An end passes through (pipe ends the other side once its data is out); a broken side breaks both.
      const broken = (): void => {
        inbound.destroy();
        outbound.destroy();
      };
      outbound.on('error', broken);
      inbound.on('error', broken);
      inbound.on('close', () => outbound.end());
      outbound.on('close', () => inbound.end());
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      inbound.resume();
      return;
    }
    this.o.logger.error({}, 'no API server answered; connection closed');
    inbound.destroy();
  }

  /** A connected socket to `backend`, or undefined when it refused or did not answer in time. */
  private dial(backend: Backend): Promise<net.Socket | undefined> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: backend.host, port: backend.port });
      const fail = (): void => {
        socket.destroy();
        resolve(undefined);
      };
      const timer = setTimeout(fail, this.dialTimeoutMs);
      socket.once('error', () => {
        clearTimeout(timer);
        fail();
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
    });
  }

  private mark(i: number, up: boolean): void {
    const b = this.backends[i]!;
    if (b.up === up) return;
    b.up = up;
    this.o.logger.info({ server: `${b.host}:${b.port}` }, up ? 'API server answers again' : 'API server marked down');
  }

  private async checkHealth(): Promise<void> {
    await Promise.all(
      this.backends.map(async (b, i) => {
        const socket = await this.dial(b);
        socket?.destroy();
        this.mark(i, !!socket);
      }),
    );
    if (!this.backends[this.current]!.up) this.current = this.order()[0]!;
  }

  private track(s: net.Socket): void {
    this.open.add(s);
    s.once('close', () => this.open.delete(s));
  }
}
