import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusError } from '../api/errors.js';
import type { KObject } from '../api/object.js';
import type { KubeClient, WatchEvent } from './client.js';
import { LeaderElector } from './leaderelection.js';
import { quietLogger } from '../controllers/testing.js';

/** One Lease with resourceVersion checks, as the API server keeps it. */
class LeaseStore {
  lease: KObject | undefined;
  private rv = 0;
  up = true;
  private readonly watchers = new Set<(e: WatchEvent) => void>();
  private write(type: 'ADDED' | 'MODIFIED', obj: KObject): KObject {
    this.lease = { ...structuredClone(obj), metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } };
    for (const w of this.watchers) w({ type, object: structuredClone(this.lease) });
    return this.lease;
  }
  client(): KubeClient {
    const down = (): never => {
      throw new Error('connection refused');
    };
    return {
      request: async <T>() => {
        if (!this.up) down();
        if (!this.lease) throw new StatusError(404, 'NotFound', 'leases not found');
        return structuredClone(this.lease) as T;
      },
      create: async (_p: string, obj: KObject) => {
        if (!this.up) down();
        if (this.lease) throw new StatusError(409, 'AlreadyExists', 'exists');
        return this.write('ADDED', obj);
      },
      update: async (_p: string, obj: KObject) => {
        if (!this.up) down();
        if (obj.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion)
          throw new StatusError(409, 'Conflict', 'the object has been modified');
        return this.write('MODIFIED', obj);
      },
      watch: async (_p: string, _rv: string, _s: unknown, onEvent: (e: WatchEvent) => void, signal: AbortSignal) => {
        if (!this.up) down();
        if (this.lease) onEvent({ type: 'ADDED', object: structuredClone(this.lease) });
        this.watchers.add(onEvent);
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        this.watchers.delete(onEvent);
      },
    } as unknown as KubeClient;
  }
}

/** A candidate on `store`'s lease, with an injected clock and retry period. */
function candidate(
  store: LeaseStore,
  identity: string,
  clock: () => number = Date.now,
  retryPeriodMs = 2000,
): LeaderElector {
  return new LeaderElector({
    client: store.client(),
    namespace: 'kube-system',
    name: 'kube-scheduler',
    identity,
    logger: quietLogger,
    now: clock,
    retryPeriodMs,
  });
}

test('one candidate leads; another takes over only once the lease has gone unrenewed for its duration', async () => {
  const store = new LeaseStore();
  let clock = 1_000_000;
  const elector = (identity: string): LeaderElector => candidate(store, identity, () => clock);
  const a = elector('a');
  const b = elector('b');
  assert.equal(await a.tryAcquireOrRenew(), true, 'a creates the lease');
  assert.equal(await b.tryAcquireOrRenew(), false, 'b sees it held');
  clock += 10_000;
  assert.equal(await a.tryAcquireOrRenew(), true, 'a renews');
  assert.equal(await b.tryAcquireOrRenew(), false);
  clock += 14_000;
  assert.equal(await b.tryAcquireOrRenew(), false, 'not yet 15 s since b saw the renewal');
  clock += 2_000;
  assert.equal(await b.tryAcquireOrRenew(), true, 'a has gone quiet for longer than the lease');
  const spec = (store.lease as { spec: { holderIdentity: string; leaseTransitions: number } }).spec;
  assert.deepEqual([spec.holderIdentity, spec.leaseTransitions], ['b', 1]);
  assert.equal(await a.tryAcquireOrRenew(), false, 'a lost it');
  store.up = false;
  assert.equal(await b.tryAcquireOrRenew(), false, 'an unreachable API server is no lease');
});

test('concurrent candidates: a write with a stale resourceVersion loses', async () => {
  const store = new LeaseStore();
  let clock = 0;
  const mk = (id: string): LeaderElector => candidate(store, id, () => clock);
  const candidates = ['a', 'b', 'c', 'd'].map(mk);
  const won = await Promise.all(candidates.map((c) => c.tryAcquireOrRenew()));
  assert.equal(won.filter(Boolean).length, 1);
  clock += 20_000;
  // All see it expire at once; exactly one of the takeovers succeeds.
  for (const c of candidates) await c.tryAcquireOrRenew().then(() => undefined);
  const again = await Promise.all(candidates.map((c) => c.tryAcquireOrRenew()));
  assert.equal(again.filter(Boolean).length, 1);
});

test('a leader that stops gives the lease up', async () => {
  const store = new LeaseStore();
  const a = candidate(store, 'a', Date.now, 20);
  const b = candidate(store, 'b', Date.now, 20);
  let led = false;
  const running = a.run(() => (led = true));
  while (!led) await new Promise((r) => setTimeout(r, 5));
  await a.stop();
  await running;
  assert.equal(await b.tryAcquireOrRenew(), true);
});

test('runRepeatedly stops the work when the lease is lost and starts it again on leading again', async () => {
  const store = new LeaseStore();
  const a = new LeaderElector({
    client: store.client(),
    namespace: 'kube-system',
    name: 'kube-controller-manager',
    identity: 'a',
    logger: quietLogger,
    leaseDurationMs: 300,
    renewDeadlineMs: 100,
    retryPeriodMs: 20,
  });
  const log: string[] = [];
  const until = async (cond: () => boolean): Promise<void> => {
    while (!cond()) await new Promise((r) => setTimeout(r, 5));
  };
  const done = a.runRepeatedly(() => {
    log.push('start');
    return { stop: () => log.push('stop') };
  });
  await until(() => log.length === 1);
  store.up = false;
  await until(() => log.length === 2);
  assert.deepEqual(log, ['start', 'stop'], 'an unrenewable lease stops the work');
  store.up = true;
  await until(() => log.length === 3);
  assert.equal(log[2], 'start', 'the same identity takes its own lease back at once');
  await a.stop();
  await done;
  assert.deepEqual(log, ['start', 'stop', 'start', 'stop']);
});

test('a campaigning candidate watches the lease: it leads one lease duration after the last renewal it saw written', async () => {
  const store = new LeaseStore();
  const options = { leaseDurationMs: 1000, renewDeadlineMs: 500, retryPeriodMs: 400 };
  const mk = (identity: string): LeaderElector =>
    new LeaderElector({
      client: store.client(),
      namespace: 'kube-system',
      name: 'kube-scheduler',
      identity,
      logger: quietLogger,
      ...options,
    });
  const a = mk('a');
  const b = mk('b');
  assert.equal(await a.tryAcquireOrRenew(), true);
  let ledAt = 0;
  const campaign = b.run(() => (ledAt = Date.now()));
  // a renews twice between b's polls and then dies without giving the lease back.
  await new Promise((r) => setTimeout(r, 150));
  await a.tryAcquireOrRenew();
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(await a.tryAcquireOrRenew(), true);
  const lastRenewal = Date.now();
  while (!ledAt) await new Promise((r) => setTimeout(r, 5));
  const after = ledAt - lastRenewal;
  assert.ok(after >= 1000 && after < 1150, `b led ${after} ms after a's last renewal (lease 1000 ms)`);
  await b.stop();
  await campaign;
});

test('a lease given back is taken at once by a campaigning candidate, not on its next retry', async () => {
  const store = new LeaseStore();
  const a = candidate(store, 'a', Date.now, 60_000);
  const b = candidate(store, 'b', Date.now, 60_000);
  assert.equal(await a.tryAcquireOrRenew(), true);
  let led = false;
  const campaign = b.run(() => (led = true));
  await new Promise((r) => setTimeout(r, 50));
  let aLeads = false;
  const leading = a.run(() => (aLeads = true));
  while (!aLeads) await new Promise((r) => setTimeout(r, 5));
  await a.stop();
  await leading;
  const released = Date.now();
  while (!led) await new Promise((r) => setTimeout(r, 5));
  assert.ok(Date.now() - released < 1000, 'taken within a second of its release (retry period 60 s)');
  await b.stop();
  await campaign;
});
