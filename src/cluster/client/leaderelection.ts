/**
 * Leader election over a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it: a
 * candidate takes the lease when it is free or its holder has not renewed it within the lease duration
 * (measured on this process's clock from when the record last changed, so clocks need not agree), the
 * leader renews it every retry period, and a leader that cannot renew within the renew deadline stops
 * leading. Every write carries the resourceVersion read, so two candidates never both win. Defaults are
 * Kubernetes': lease 15 s, renew deadline 10 s, retry 2 s.
 *
 * Unlike client-go, a candidate also watches the Lease: it sees each renewal when it is written rather
 * up to a retry period later, and tries again the moment the lease lapses or is given back instead of on
 * its next tick. A leader killed without handing the lease back is thus followed within the lease
 * duration of its last renewal (client-go: up to the duration plus two retry periods).
 */
import type { Logger } from '../../common/log.js';
import { StatusError } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import type { KubeClient, WatchEvent } from './client.js';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** Who this candidate is (Kubernetes: `<hostname>_<uuid>`). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger: Logger;
  /** Clock, for tests. */
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = KObject & { spec?: LeaseSpec };

/** RFC 3339 with microseconds, as Kubernetes writes MicroTime. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  /** The record as last seen, and when (this process's clock) it last changed. */
  private observed: { spec: LeaseSpec; at: number } | undefined;
  private stopped = false;
  private leading = false;
  private wake: (() => void) | undefined;

  constructor(private readonly o: LeaderElectionOptions) {
    this.leaseMs = o.leaseDurationMs ?? 15000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10000;
    this.retryMs = o.retryPeriodMs ?? 2000;
    this.now = o.now ?? Date.now;
    if (this.renewDeadlineMs >= this.leaseMs) throw new Error('leaseDuration must be greater than renewDeadline');
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder as last observed. */
  holder(): string | undefined {
    return this.observed?.spec.holderIdentity;
  }

  /**
   * One attempt to take or keep the lease; true when this candidate holds it afterwards. Errors
   * (the API server unreachable, a conflicting write) count as not holding it.
   */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const mine: LeaseSpec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.round(this.leaseMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let current: Lease;
    try {
      current = await this.o.client.request<Lease>('GET', `${this.path}/${this.o.name}`);
    } catch (err) {
      if (!(err instanceof StatusError) || err.code !== 404) return false;
      try {
        await this.o.client.create(this.path, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: mine,
        } as KObject);
      } catch {
        return false;
      }
      this.observed = { spec: mine, at: now };
      return true;
    }
    const spec = current.spec ?? {};
    this.observe(spec, now);
    const heldByOther = !!spec.holderIdentity && spec.holderIdentity !== this.o.identity;
    if (heldByOther && this.untilExpiry(now) > 0) return false;
    const next: LeaseSpec =
      heldByOther || !spec.holderIdentity
        ? { ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + (spec.holderIdentity ? 1 : 0) }
        : { ...spec, renewTime: microTime(now), leaseDurationSeconds: mine.leaseDurationSeconds };
    try {
      await this.o.client.update(`${this.path}/${this.o.name}`, { ...current, spec: next } as KObject);
    } catch {
      return false;
    }
    this.observed = { spec: next, at: now };
    return true;
  }

  /** Remember `spec` as the record, stamped with `now` when it differs from the one seen before. */
  private observe(spec: LeaseSpec, now: number): void {
    if (!this.observed || JSON.stringify(this.observed.spec) !== JSON.stringify(spec))
      this.observed = { spec, at: now };
  }

  /** How long until the observed record's holder has gone unrenewed for its lease duration (0: it has, or none). */
  private untilExpiry(now: number): number {
    if (!this.observed?.spec.holderIdentity) return 0;
    const duration = (this.observed.spec.leaseDurationSeconds ?? Math.round(this.leaseMs / 1000)) * 1000;
    return Math.max(0, this.observed.at + duration - now);
  }

  /**
   * Campaign until leading, lead until the lease cannot be renewed within the renew deadline (or
   * `stop`), then resolve. `onStartedLeading` runs once this candidate leads.
   */
  async run(onStartedLeading: () => void): Promise<void> {
    const watching = new AbortController();
    this.watchLease(watching.signal);
    try {
      while (!this.stopped && !(await this.tryAcquireOrRenew())) {
        const untilExpiry = this.untilExpiry(this.now());
        await this.sleep(untilExpiry > 0 ? Math.min(this.jittered(), untilExpiry + 1) : this.jittered());
      }
    } finally {
      watching.abort();
    }
    if (this.stopped) return;
    this.leading = true;
    this.o.logger.info({ lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity }, 'became leader');
    onStartedLeading();
    let lastRenew = this.now();
    while (!this.stopped) {
      await this.sleep(this.retryMs);
      if (this.stopped) break;
      if (await this.tryAcquireOrRenew()) lastRenew = this.now();
      else if (this.now() - lastRenew >= this.renewDeadlineMs) break;
    }
    this.leading = false;
    if (!this.stopped) this.o.logger.error({ lease: `${this.o.namespace}/${this.o.name}` }, 'leaderelection lost');
  }

  /**
   * Lead again and again, for work that must not take its process down with it (the controllers and
   * scheduler inside `gantry server`): `start` runs whenever this candidate comes to lead, what it
   * answers is stopped when the lease is lost, and the candidate campaigns again, until `stop`.
   */
  async runRepeatedly(start: () => { stop(): void }): Promise<void> {
    while (!this.stopped) {
      let running: { stop(): void } | undefined;
      await this.run(() => {
        running = start();
      });
      running?.stop();
    }
  }

  /** Stop campaigning or leading; a leader gives the lease up so another takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    if (!this.leading) return;
    this.leading = false;
    try {
      const current = await this.o.client.request<Lease>('GET', `${this.path}/${this.o.name}`);
      if (current.spec?.holderIdentity !== this.o.identity) return;
      await this.o.client.update(`${this.path}/${this.o.name}`, {
        ...current,
        spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(this.now()) },
      } as KObject);
    } catch {
      // The lease expires by itself.
    }
  }

  /**
   * While campaigning, keep the observed record current from a watch of the Lease, and try at once
   * when it is given back or removed. A failed watch is opened again after a retry period; polling
   * goes on meanwhile, so the watch only ever shortens the wait.
   */
  private watchLease(signal: AbortSignal): void {
    const onEvent = (e: WatchEvent): void => {
      if (e.type !== 'ADDED' && e.type !== 'MODIFIED' && e.type !== 'DELETED') return;
      const spec = e.type === 'DELETED' ? {} : ((e.object as Lease).spec ?? {});
      this.observe(spec, this.now());
      if (!spec.holderIdentity || spec.holderIdentity === this.o.identity) this.wake?.();
    };
    const selectors = { fieldSelector: `metadata.name=${this.o.name}` };
    void (async () => {
      while (!signal.aborted && !this.stopped) {
        try {
          await this.o.client.watch(this.path, '', selectors, onEvent, signal);
        } catch {
          // Polling carries on; the watch is tried again below.
        }
        if (!signal.aborted) await abortableDelay(this.retryMs, signal);
      }
    })();
  }

  /** client-go waits the retry period with up to 20% jitter between attempts. */
  private jittered(): number {
    return this.retryMs * (1 + Math.random() * 0.2);
  }

  /** A wait that `stop` cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
