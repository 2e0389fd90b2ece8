/**
 * Readiness and liveness probes, as the kubelet runs them: httpGet (2xx/3xx is a success), tcpSocket
 * (the connection opens) and exec (exit code 0, run through the engine's exec API), every periodSeconds
 * after initialDelaySeconds, each within timeoutSeconds. A container with a readiness probe is ready
 * after successThreshold successes and unready after failureThreshold failures; failureThreshold
 * liveness failures in a row have the agent replace it.
 */
import http from 'node:http';
import net from 'node:net';
import type { ApiClient as EngineClient } from '../../api/docker/client.js';
import type { Logger } from '../../common/log.js';

export interface Probe {
  httpGet?: {
    path?: string;
    port: number | string;
    scheme?: string;
    httpHeaders?: Array<{ name: string; value: string }>;
  };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

type Ports = Array<{ name?: string; containerPort: number }>;

interface Watched {
  timers: NodeJS.Timeout[];
  ready: boolean;
}

export class Prober {
  private readonly watched = new Map<string, Watched>();

  constructor(
    private readonly engine: EngineClient,
    private readonly logger: Logger,
    /** Called when readiness changes, so the pod's status is written again. */
    private readonly changed: (podKey: string) => void,
    /** Called when a container failed its liveness probe: the agent replaces it. */
    private readonly unhealthy: (podKey: string, containerId: string) => void,
  ) {}

  /** Whether the container counts as ready: its readiness probe's verdict, or simply running without one. */
  ready(containerId: string, hasReadiness: boolean): boolean {
    return hasReadiness ? (this.watched.get(containerId)?.ready ?? false) : true;
  }

  /** Start probing a running container once; probes follow it until `forget`. */
  watch(
    podKey: string,
    containerId: string,
    ip: string | undefined,
    ports: Ports,
    readiness: Probe | undefined,
    liveness: Probe | undefined,
  ): void {
    if (this.watched.has(containerId) || (!readiness && !liveness)) return;
    const w: Watched = { timers: [], ready: false };
    this.watched.set(containerId, w);
    const schedule = (probe: Probe, onResult: (ok: boolean) => void): void => {
      const start = setTimeout(
        () => {
          const tick = (): void => void this.run(probe, containerId, ip, ports).then(onResult);
          tick();
          w.timers.push(setInterval(tick, (probe.periodSeconds ?? 10) * 1000));
        },
        (probe.initialDelaySeconds ?? 0) * 1000,
      );
      w.timers.push(start);
    };
    if (readiness) {
      let successes = 0;
      let failures = 0;
      schedule(readiness, (ok) => {
        successes = ok ? successes + 1 : 0;
        failures = ok ? 0 : failures + 1;
        const next = w.ready
          ? failures < (readiness.failureThreshold ?? 3)
          : successes >= (readiness.successThreshold ?? 1);
        if (next !== w.ready) {
          w.ready = next;
          this.changed(podKey);
        }
      });
    }
    if (liveness) {
      let failures = 0;
      schedule(liveness, (ok) => {
        failures = ok ? 0 : failures + 1;
        if (failures < (liveness.failureThreshold ?? 3)) return;
        failures = 0;
        this.logger.info(
          { pod: podKey, container: containerId.slice(0, 12) },
          'liveness probe failed; restarting the container',
        );
        w.ready = false;
        this.unhealthy(podKey, containerId);
      });
    }
  }

  /** Stop probing containers that are gone. */
  forget(keep: Set<string>): void {
    for (const [id, w] of this.watched) {
      if (keep.has(id)) continue;
      for (const t of w.timers) clearTimeout(t);
      this.watched.delete(id);
    }
  }

  private async run(probe: Probe, containerId: string, ip: string | undefined, ports: Ports): Promise<boolean> {
    const timeout = (probe.timeoutSeconds ?? 1) * 1000;
    const portOf = (p: number | string): number =>
      typeof p === 'number' ? p : /^\d+$/.test(p) ? Number(p) : (ports.find((x) => x.name === p)?.containerPort ?? 0);
    try {
      if (probe.exec) {
        const exec = await this.engine.json<{ Id: string }>('POST', `/containers/${containerId}/exec`, {
          body: { Cmd: probe.exec.command, AttachStdout: true, AttachStderr: true },
        });
        const res = await this.engine.stream('POST', `/exec/${exec.Id}/start`, { body: { Detach: false, Tty: false } });
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('probe timed out')), timeout);
          res.on('end', () => (clearTimeout(t), resolve()));
          res.on('error', reject);
          res.resume();
        });
        const info = await this.engine.json<{ ExitCode: number | null }>('GET', `/exec/${exec.Id}/json`);
        return info.ExitCode === 0;
      }
      if (!ip) return false;
      if (probe.tcpSocket) {
        const port = portOf(probe.tcpSocket.port);
        return await new Promise<boolean>((resolve) => {
          const s = net.connect({ host: ip, port, timeout });
          s.once('connect', () => (s.destroy(), resolve(true)));
          s.once('timeout', () => (s.destroy(), resolve(false)));
          s.once('error', () => resolve(false));
        });
      }
      if (probe.httpGet) {
        const g = probe.httpGet;
        const headers = Object.fromEntries((g.httpHeaders ?? []).map((h) => [h.name, h.value]));
        return await new Promise<boolean>((resolve) => {
          const req = http.get(
            {
              host: ip,
              port: portOf(g.port),
              path: g.path ?? '/',
              timeout,
              headers: { 'User-Agent': 'kube-probe/1.33', ...headers },
            },
            (res) => {
              res.resume();
              resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
            },
          );
          req.once('timeout', () => (req.destroy(), resolve(false)));
          req.once('error', () => resolve(false));
        });
      }
    } catch {
      return false;
    }
    return false;
  }
}
