/**
 * Published ports. IPv4 traffic is forwarded by the CNI portmap plugin's DNAT rules; the engine also
 * holds a listening socket on each host port, as Docker's proxy does, so a port already in use is
 * refused before anything is wired and no other program can take it while the container runs, and
 * what reaches a socket (every IPv6 binding) is proxied to the container (`proxy.ts`). A binding given
 * no address is published on 0.0.0.0 and [::], as Docker 28 does. An empty or zero host port gets an
 * ephemeral one from the kernel.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { conflict, invalid } from '../common/errors.js';
import { tcpProxy, UdpProxy, type ProxyTarget } from './proxy.js';

export type PortBindings = Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>;

export interface PortMapping {
  hostIP: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** "80/tcp" → [80, "tcp"]; Docker's default protocol is tcp. */
export function parsePortKey(key: string): { port: number; protocol: 'tcp' | 'udp' } {
  const [p, proto = 'tcp'] = key.split('/');
  const port = Number(p);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`invalid port specification: "${key}"`);
  if (proto !== 'tcp' && proto !== 'udp') throw invalid(`invalid proto: ${proto}`);
  return { port, protocol: proto };
}

/** One host socket to hold for a container port. */
export interface WantedBinding {
  key: string;
  hostIp: string;
  hostPort: number;
  /**
   * The `[::]` twin of a binding given no address (Docker 28 publishes those on 0.0.0.0 and on ::): it
   * takes the port its IPv4 twin got, and is left out on a host without IPv6.
   */
  v6Twin?: boolean;
}

/** The bindings to make: those asked for, plus every exposed port when all are published (`-P`). */
export function wantedBindings(
  bindings: PortBindings | null | undefined,
  exposed: Record<string, unknown> | undefined,
  publishAll: boolean,
): WantedBinding[] {
  const out: WantedBinding[] = [];
  const all: PortBindings = { ...(bindings ?? {}) };
  if (publishAll)
    for (const key of Object.keys(exposed ?? {})) if (!all[key]?.length) all[key] = [{ HostIp: '', HostPort: '' }];
  for (const [key, list] of Object.entries(all)) {
    parsePortKey(key);
    for (const b of list ?? []) {
      const hostPort = b.HostPort ? Number(b.HostPort) : 0;
      if (!Number.isInteger(hostPort) || hostPort < 0 || hostPort > 65535)
        throw invalid(`invalid port specification: "${b.HostPort}"`);
      if (b.HostIp && net.isIP(b.HostIp) === 0) throw invalid(`invalid IP address: ${b.HostIp}`);
      out.push({ key, hostIp: b.HostIp || '0.0.0.0', hostPort });
      if (!b.HostIp) out.push({ key, hostIp: '::', hostPort, v6Twin: true });
    }
  }
  return out;
}

/** The mappings the NAT rules (CNI portmap) carry: the IPv4 ones; the userland proxy takes the rest. */
export function natMappings(mappings: PortMapping[]): PortMapping[] {
  return mappings.filter((m) => !net.isIPv6(m.hostIP));
}

/** Tries at an ephemeral port free on both 0.0.0.0 and :: before giving up. */
const EPHEMERAL_TRIES = 5;

/** The held sockets of one container's ports, which proxy what reaches them to the container. */
export class PortReservation {
  private targets: { v4?: string; v6?: string } = {};
  private readonly udpProxies: UdpProxy[] = [];

  private constructor(
    readonly mappings: PortMapping[],
    private readonly handles: Array<net.Server | dgram.Socket>,
  ) {}

  static async reserve(wanted: WantedBinding[]): Promise<PortReservation> {
    const reservation = new PortReservation([], []);
    try {
      for (const [i, w] of wanted.entries()) {
        if (w.v6Twin) continue;
        const twin = wanted[i + 1]?.v6Twin ? wanted[i + 1] : undefined;
        await reservation.hold(w, twin);
      }
    } catch (err) {
      reservation.release();
      throw err;
    }
    return reservation;
  }

  /** Hold `w` and, on the same port, its `[::]` twin; an ephemeral port taken on :: is tried again. */
  private async hold(w: WantedBinding, twin: WantedBinding | undefined): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const first = await this.holdOne(w, w.hostPort);
      if (!twin) return;
      try {
        await this.holdOne(twin, first.hostPort);
        return;
      } catch (err) {
        const code = (err as { cause?: NodeJS.ErrnoException }).cause?.code;
        // A host without IPv6: the binding stays IPv4 only, as Docker leaves it.
        if (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL') return;
        if (w.hostPort !== 0 || code !== 'EADDRINUSE' || attempt === EPHEMERAL_TRIES) throw err;
        this.dropLast();
      }
    }
  }

  private async holdOne(w: WantedBinding, hostPort: number): Promise<{ hostPort: number }> {
    const { port, protocol } = parsePortKey(w.key);
    const mapping: PortMapping = { hostIP: w.hostIp, hostPort, containerPort: port, protocol };
    const target = (): ProxyTarget | undefined => {
      const address = net.isIPv6(w.hostIp) ? (this.targets.v6 ?? this.targets.v4) : this.targets.v4;
      return address ? { address, port } : undefined;
    };
    if (protocol === 'tcp') {
      const handle = await holdTcp(w.hostIp, hostPort, tcpProxy(target));
      this.handles.push(handle);
      mapping.hostPort = (handle.address() as net.AddressInfo).port;
    } else {
      const handle = await holdUdp(w.hostIp, hostPort);
      this.handles.push(handle);
      this.udpProxies.push(new UdpProxy(handle, target));
      mapping.hostPort = handle.address().port;
    }
    this.mappings.push(mapping);
    return mapping;
  }

  private dropLast(): void {
    const handle = this.handles.pop();
    const mapping = this.mappings.pop();
    if (mapping?.protocol === 'udp') this.udpProxies.pop()?.close();
    handle?.close();
  }

  /** Where the container answers: what reaches the held sockets is carried there from now on. */
  forwardTo(targets: { v4?: string; v6?: string }): void {
    this.targets = { v4: targets.v4 || undefined, v6: targets.v6 || undefined };
  }

  release(): void {
    for (const p of this.udpProxies) p.close();
    this.udpProxies.length = 0;
    for (const h of this.handles) {
      try {
        h.close();
      } catch {
        // Already closed.
      }
    }
    this.handles.length = 0;
  }
}

function inUse(hostIp: string, hostPort: number, err: NodeJS.ErrnoException): Error {
  const wrapped =
    err.code === 'EADDRINUSE'
      ? conflict(`Bind for ${hostIp}:${hostPort} failed: port is already allocated`)
      : err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT'
        ? invalid(`Bind for ${hostIp}:${hostPort} failed: cannot assign requested address`)
        : err;
  if (wrapped !== err) Object.assign(wrapped, { cause: err });
  return wrapped;
}

function holdTcp(hostIp: string, hostPort: number, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true }, onConnection);
    server.once('error', (err) => reject(inUse(hostIp, hostPort, err)));
    // ipv6Only: [::] must not also take the IPv4 port its 0.0.0.0 twin holds.
    server.listen({ host: hostIp, port: hostPort, exclusive: true, ipv6Only: net.isIPv6(hostIp) }, () => {
      server.unref();
      resolve(server);
    });
  });
}

function holdUdp(hostIp: string, hostPort: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const v6 = net.isIPv6(hostIp);
    const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    socket.once('error', (err) => reject(inUse(hostIp, hostPort, err)));
    socket.bind({ address: hostIp, port: hostPort, exclusive: true }, () => {
      socket.unref();
      resolve(socket);
    });
  });
}

/** `NetworkSettings.Ports` as Docker shows it: every exposed or published port, bound or not. */
export function portsView(
  mappings: PortMapping[],
  exposed: Record<string, unknown> | undefined,
): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
  const view: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  for (const key of Object.keys(exposed ?? {})) view[key.includes('/') ? key : `${key}/tcp`] = null;
  for (const m of mappings) {
    const key = `${m.containerPort}/${m.protocol}`;
    (view[key] ??= []).push({ HostIp: m.hostIP, HostPort: String(m.hostPort) });
  }
  return view;
}
