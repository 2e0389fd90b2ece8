/**
 * The embedded DNS server of a user-defined network (and, with a cluster's lookup, the cluster DNS the
 * node agent serves). Docker answers at 127.0.0.11 inside each
 * container by redirecting into its own process in that namespace; Gantry listens on the network's
 * gateway address instead (the daemon cannot enter namespaces from Node), which containers reach the
 * same way. Names of containers on the network are answered here; anything else is forwarded, over UDP
 * and TCP, to the servers the asking container was given with `--dns` (as Docker does) or else to the
 * host's resolvers.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import dnsPacket, { type Packet } from 'dns-packet';
import type { Logger } from '../common/log.js';

const TTL = 600;
const FORWARD_TIMEOUT_MS = 4000;

/** The host's resolvers, skipping loopback ones, which containers could not reach either. */
function upstreams(): string[] {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((s): s is string => !!s && net.isIPv4(s) && !s.startsWith('127.'));
  } catch {
    return [];
  }
}

export class DnsServer {
  private udp?: dgram.Socket;
  private tcp?: net.Server;

  constructor(
    private readonly address: string,
    private readonly lookup: (name: string, source?: string) => string | undefined,
    private readonly logger: Logger,
    private readonly port = 53,
    /** The resolvers to forward a client's other questions to (by its address); the host's when undefined. */
    private readonly upstreamsFor: (source: string) => string[] | undefined = () => undefined,
    /** IPv6 addresses of names (AAAA), when the network has them. */
    private readonly lookup6: (name: string, source?: string) => string | undefined = () => undefined,
  ) {}

  async start(): Promise<void> {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.port, this.address, () => resolve());
    });
    udp.on('message', (msg, rinfo) => {
      void this.answer(msg, 'udp', rinfo.address).then((reply) => {
        if (reply) udp.send(reply, rinfo.port, rinfo.address);
      });
    });
    udp.on('error', (err) => this.logger.warn({ err: String(err) }, 'dns udp error'));
    udp.unref();
    this.udp = udp;
    const tcp = net.createServer((socket) => {
      let buf = Buffer.alloc(0);
      socket.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          void this.answer(msg, 'tcp', socket.remoteAddress?.replace(/^::ffff:/, '')).then((reply) => {
            if (!reply || socket.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(reply.length);
            socket.write(Buffer.concat([len, reply]));
          });
        }
      });
      socket.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.port, this.address, () => resolve());
    });
    tcp.unref();
    this.tcp = tcp;
  }

  async stop(): Promise<void> {
    this.udp?.close();
    await new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve()));
  }

  /** The reply to one query message, or undefined for something that is not a query. */
  async answer(msg: Buffer, transport: 'udp' | 'tcp', source?: string): Promise<Buffer | undefined> {
    let query: Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    const q = query.questions?.[0];
    if (query.type !== 'query' || !q) return undefined;
    const ip = this.lookup(q.name, source);
    const ip6 = q.type === 'AAAA' ? this.lookup6(q.name, source) : undefined;
    const servers = (source !== undefined ? this.upstreamsFor(source) : undefined) ?? upstreams();
    if (ip !== undefined || !servers.length) {
      const answers =
        q.type === 'A' && ip !== undefined
          ? [{ type: 'A' as const, class: 'IN' as const, name: q.name, ttl: TTL, data: ip }]
          : q.type === 'AAAA' && ip6 !== undefined
            ? [{ type: 'AAAA' as const, class: 'IN' as const, name: q.name, ttl: TTL, data: ip6 }]
            : [];
      return dnsPacket.encode({
        type: 'response',
        id: query.id,
        // Recursion available; NXDOMAIN (rcode 3) for unknown names when there is nobody to ask.
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (ip === undefined ? 3 : 0),
        questions: [q],
        answers,
      });
    }
    return forward(msg, transport, servers[0]!).catch(() =>
      dnsPacket.encode({
        type: 'response',
        id: query.id,
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | 2,
        questions: [q],
        answers: [],
      }),
    );
  }
}

/** Ask `server` and relay its answer unchanged. */
function forward(msg: Buffer, transport: 'udp' | 'tcp', server: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('upstream timeout')), FORWARD_TIMEOUT_MS);
    let finish: () => void = () => undefined;
    const done = (err: Error | undefined, reply?: Buffer): void => {
      clearTimeout(timer);
      finish();
      if (err) reject(err);
      else resolve(reply!);
    };
    if (transport === 'udp') {
      const s = dgram.createSocket('udp4');
      finish = () => s.close();
      s.on('message', (reply) => done(undefined, reply));
      s.on('error', (err) => done(err));
      s.send(msg, 53, server);
      return;
    }
    const s = net.connect(53, server);
    finish = () => s.destroy();
    const len = Buffer.alloc(2);
    len.writeUInt16BE(msg.length);
    s.write(Buffer.concat([len, msg]));
    let buf = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
        done(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    s.on('error', (err) => done(err));
  });
}
