/**
 * The dashboard's port-forwards, as `kubectl port-forward` run for the session's user on the server's
 * machine: each listens on a loopback port there and carries every connection to the pod's port
 * through its node's agent. They belong to the session: each connection is authorized again as its
 * user (`create pods/portforward`), and a forward whose session has ended closes.
 *
 * The link's host differs from the dashboard's (127.0.0.1 or localhost, whichever the dashboard is
 * not reached as): cookies are per host, not per port, so the pod's pages never see the session's
 * cookie, and being another site they cannot ride the session either.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { UserInfo } from '../apiserver/auth.js';

export interface ForwardRequest {
  namespace: string;
  pod: string;
  port: number;
}

export interface Forward extends ForwardRequest {
  id: string;
  localPort: number;
  url: string;
}

/** What forwards need of the server: a session's user now, and a connection to a pod's port as that user. */
export interface ForwardBackend {
  sessionUser(sessionId: string): Promise<UserInfo>;
  dial(user: UserInfo, target: ForwardRequest): Promise<Duplex>;
}

const MAX_PER_SESSION = 20;
const SWEEP_MS = 60_000;
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** A forward request from a body, or why not. */
export function forwardRequest(body: unknown): ForwardRequest {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const { namespace, pod, port } = b;
  if (typeof namespace !== 'string' || !NAME.test(namespace)) throw new Error('namespace: give a namespace name');
  if (typeof pod !== 'string' || !NAME.test(pod)) throw new Error('pod: give a pod name');
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error('port: give a port number from 1 to 65535');
  return { namespace, pod, port };
}

/** The host for a forward's link: loopback, under another name than the dashboard's. */
export function linkHost(dashboardHost: string | undefined): string {
  const hostname = dashboardHost ? new URL(`https://${dashboardHost}`).hostname : '';
  return hostname === '127.0.0.1' ? 'localhost' : '127.0.0.1';
}

interface Open {
  forward: Forward;
  server: net.Server;
  sockets: Set<net.Socket>;
}

export class PortForwards {
  private readonly bySession = new Map<string, Map<string, Open>>();
  /** Runs while any forward is open. */
  private sweeper?: NodeJS.Timeout;

  constructor(private readonly backend: ForwardBackend) {}

  /** Open a forward for a session after checking its user may (the first dial is the check). */
  async open(sessionId: string, request: ForwardRequest, dashboardHost: string | undefined): Promise<Forward> {
    const mine = this.bySession.get(sessionId) ?? new Map<string, Open>();
    if (mine.size >= MAX_PER_SESSION)
      throw new Error(`a session keeps at most ${MAX_PER_SESSION} port-forwards; stop one first`);
    const user = await this.backend.sessionUser(sessionId);
    (await this.backend.dial(user, request)).destroy();
    const id = randomBytes(8).toString('hex');
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => void this.carry(sessionId, id, request, socket, sockets));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const localPort = (server.address() as net.AddressInfo).port;
    const forward = { ...request, id, localPort, url: `http://${linkHost(dashboardHost)}:${localPort}/` };
    mine.set(id, { forward, server, sockets });
    this.bySession.set(sessionId, mine);
    this.sweeper ??= setInterval(() => void this.sweep(), SWEEP_MS).unref();
    return forward;
  }

  list(sessionId: string): Forward[] {
    return [...(this.bySession.get(sessionId)?.values() ?? [])].map((o) => o.forward);
  }

  /** Stop one forward of a session; false when it has none by that id. */
  close(sessionId: string, id: string): boolean {
    const mine = this.bySession.get(sessionId);
    const open = mine?.get(id);
    if (!mine || !open) return false;
    mine.delete(id);
    if (mine.size === 0) this.bySession.delete(sessionId);
    if (this.bySession.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
    open.server.close();
    for (const s of open.sockets) s.destroy();
    return true;
  }

  /** Stop every forward of a session (logout, or its end found). */
  closeSession(sessionId: string): void {
    for (const id of [...(this.bySession.get(sessionId)?.keys() ?? [])]) this.close(sessionId, id);
  }

  /** Stop the forwards of sessions that have ended (expired, logged out, their token revoked). */
  async sweep(): Promise<void> {
    for (const sessionId of [...this.bySession.keys()]) {
      try {
        await this.backend.sessionUser(sessionId);
      } catch {
        this.closeSession(sessionId);
      }
    }
  }

  closeAll(): void {
    for (const sessionId of [...this.bySession.keys()]) this.closeSession(sessionId);
  }

  private async carry(
    sessionId: string,
    id: string,
    target: ForwardRequest,
    socket: net.Socket,
    sockets: Set<net.Socket>,
  ): Promise<void> {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let user: UserInfo;
    try {
      user = await this.backend.sessionUser(sessionId);
    } catch {
      // The session has ended: so has its forward.
      socket.destroy();
      this.closeSession(sessionId);
      return;
    }
    let pod: Duplex;
    try {
      pod = await this.backend.dial(user, target);
    } catch {
      // Forbidden now, or the pod is gone: this connection fails, the forward stays for the next.
      socket.destroy();
      return;
    }
    if (socket.destroyed || !this.bySession.get(sessionId)?.has(id)) return void pod.destroy();
    socket.pipe(pod);
    pod.pipe(socket);
    socket.on('close', () => pod.destroy());
    pod.on('close', () => socket.destroy());
    pod.on('error', () => socket.destroy());
  }
}
