/**
 * Certificate rotation, as the kubelet's certificate manager does it: each of the node's certificates
 * (client and serving) is renewed at a jittered 70–90% of its lifetime, asked for with the current
 * client certificate, written to the data dir and handed to whoever uses it, without a restart. A
 * renewal that fails is tried again with a growing delay, well before the old certificate lapses.
 */
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../../common/log.js';
import { issueClientCertificate, issueServingCertificate, type NodeCredentials, type Options } from './credentials.js';

/** Node's timers hold 2^31-1 ms at most; a longer wait is taken in steps. */
const MAX_TIMER_MS = 24 * 3600_000;
const RETRY_MIN_MS = 2_000;
const RETRY_MAX_MS = 5 * 60_000;

/** When to renew `certPem`: between 70% and 90% of the way from its notBefore to its notAfter. */
export function rotationDeadline(certPem: string, random: () => number = Math.random): number {
  const cert = new X509Certificate(certPem);
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return from + (to - from) * (0.7 + 0.2 * random());
}

type Pair = { cert: string; key: string };

export class CertificateRotation {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private client: Pair;

  constructor(
    private readonly o: Options & { logger: Logger },
    current: NodeCredentials,
    private readonly onClient: (p: Pair) => void,
    private readonly onServing: (p: Pair) => void,
  ) {
    this.client = { cert: current.cert, key: current.key };
    this.schedule('client', current.cert);
    this.schedule('serving', current.servingCert);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private schedule(which: 'client' | 'serving', certPem: string, retryMs = RETRY_MIN_MS): void {
    const deadline = rotationDeadline(certPem);
    const wait = (): void => {
      const left = deadline - Date.now();
      if (left > 0) return this.after(Math.min(left, MAX_TIMER_MS), wait);
      void this.renew(which).then(
        (pair) => this.schedule(which, pair.cert),
        (err: unknown) => {
          this.o.logger.warn(
            { certificate: which, err: String(err), retryInMs: retryMs },
            'certificate renewal failed',
          );
          this.after(retryMs, () => this.schedule(which, certPem, Math.min(retryMs * 2, RETRY_MAX_MS)));
        },
      );
    };
    wait();
  }

  private async renew(which: 'client' | 'serving'): Promise<Pair> {
    if (which === 'client') {
      const pair = await issueClientCertificate(this.o, this.client);
      this.client = pair;
      this.onClient(pair);
      return pair;
    }
    const pair = await issueServingCertificate(this.o, this.client);
    this.onServing(pair);
    return pair;
  }
}
