/**
 * Published ports. Traffic is forwarded by the CNI portmap plugin's DNAT rules; the engine also holds
 * a listening socket on each host port, as Docker's proxy does, so a port already in use is refused
 * before anything is wired and no other program can take it while the container runs. An empty or
 * zero host port gets an ephemeral one from the kernel.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { conflict, invalid } from '../common/errors.js';

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

/** The bindings to make: those asked for, plus every exposed port when all are published (`-P`). */
export function wantedBindings(
  bindings: PortBindings | null | undefined,
  exposed: Record<string, unknown> | undefined,
  publishAll: boolean,
): Array<{ key: string; hostIp: string; hostPort: number }> {
  const out: Array<{ key: string; hostIp: string; hostPort: number }> = [];
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
    }
  }
  return out;
}

/** The held sockets of one container's ports. */
export class PortReservation {
  private constructor(
    readonly mappings: PortMapping[],
    private readonly handles: Array<net.Server | dgram.Socket>,
  ) {}

  static async reserve(wanted: Array<{ key: string; hostIp: string; hostPort: number }>): Promise<PortReservation> {
    const handles: Array<net.Server | dgram.Socket> = [];
    const mappings: PortMapping[] = [];
    try {
      for (const w of wanted) {
        const { port, protocol } = parsePortKey(w.key);
        const { handle, hostPort } = await (protocol === 'tcp'
          ? holdTcp(w.hostIp, w.hostPort)
          : holdUdp(w.hostIp, w.hostPort));
        handles.push(handle);
        mappings.push({ hostIP: w.hostIp, hostPort, containerPort: port, protocol });
      }
    } catch (err) {
      for (const h of handles) h.close();
      throw err;
    }
    return new PortReservation(mappings, handles);
  }

  release(): void {
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
  if (err.code === 'EADDRINUSE') return conflict(`Bind for ${hostIp}:${hostPort} failed: port is already allocated`);
  if (err.code === 'EADDRNOTAVAIL')
    return invalid(`Bind for ${hostIp}:${hostPort} failed: cannot assign requested address`);
  return err;
}

function holdTcp(hostIp: string, hostPort: number): Promise<{ handle: net.Server; hostPort: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', (err) => reject(inUse(hostIp, hostPort, err)));
    server.listen({ host: hostIp, port: hostPort, exclusive: true }, () => {
      server.unref();
      resolve({ handle: server, hostPort: (server.address() as net.AddressInfo).port });
    });
  });
}

function holdUdp(hostIp: string, hostPort: number): Promise<{ handle: dgram.Socket; hostPort: number }> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: net.isIPv6(hostIp) ? 'udp6' : 'udp4' });
    socket.once('error', (err) => reject(inUse(hostIp, hostPort, err)));
    socket.bind({ address: hostIp, port: hostPort, exclusive: true }, () => {
      socket.unref();
      resolve({ handle: socket, hostPort: socket.address().port });
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
