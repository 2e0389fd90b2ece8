/**
 * The userland proxy (Docker's `docker-proxy`): what reaches a published port's held socket rather than
 * being rewritten by the NAT rules — every IPv6 binding (`[::]:8080` in front of a container with only
 * an IPv4 address, `[::1]`, which no DNAT rule can reach) — is carried to the container's address.
 * TCP connections are spliced both ways with half-close kept; UDP datagrams go out from one socket per
 * client, whose answers come back from the published port, forgotten after 90 s of silence (as
 * docker-proxy's UDP connection tracking).
 */
import dgram from 'node:dgram';
import net from 'node:net';

const UDP_IDLE_MS = 90_000;
/** Clients a UDP port tracks at once; the oldest is dropped past it. */
const UDP_MAX_CLIENTS = 1024;

/** Where a held port's traffic goes: the container's address and port, once it has one. */
export interface ProxyTarget {
  address: string;
  port: number;
}

/** A connection handler for a held TCP socket: spliced to the target, or closed while there is none. */
export function tcpProxy(target: () => ProxyTarget | undefined): (client: net.Socket) => void {
  return (client) => {
    const to = target();
    if (!to) return void client.destroy();
    const upstream = net.connect({ host: to.address, port: to.port, allowHalfOpen: true });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  };
}

/** Relays datagrams arriving on a held UDP socket to the target, and the target's answers back. */
export class UdpProxy {
  private readonly clients = new Map<string, { socket: dgram.Socket; timer: NodeJS.Timeout }>();

  constructor(
    private readonly front: dgram.Socket,
    private readonly target: () => ProxyTarget | undefined,
  ) {
    front.on('message', (msg, from) => this.relay(msg, from));
  }

  private relay(msg: Buffer, from: dgram.RemoteInfo): void {
    const to = this.target();
    if (!to) return;
    const key = `${from.address}|${from.port}`;
    let client = this.clients.get(key);
    if (!client) {
      if (this.clients.size >= UDP_MAX_CLIENTS) this.forget(this.clients.keys().next().value!);
      const socket = dgram.createSocket(net.isIPv6(to.address) ? 'udp6' : 'udp4');
      socket.on('message', (answer) => {
        this.touch(key);
        this.front.send(answer, from.port, from.address);
      });
      socket.on('error', () => this.forget(key));
      socket.unref();
      client = { socket, timer: setTimeout(() => this.forget(key), UDP_IDLE_MS).unref() };
      this.clients.set(key, client);
    } else {
      this.touch(key);
    }
    client.socket.send(msg, to.port, to.address);
  }

  private touch(key: string): void {
    const client = this.clients.get(key);
    if (!client) return;
    // Kept in arrival order, so the first key is the least recently heard.
    this.clients.delete(key);
    this.clients.set(key, client);
    client.timer.refresh();
  }

  private forget(key: string): void {
    const client = this.clients.get(key);
    if (!client) return;
    this.clients.delete(key);
    clearTimeout(client.timer);
    client.socket.close();
  }

  close(): void {
    for (const key of [...this.clients.keys()]) this.forget(key);
  }
}
