/**
 * Issue 18, in part: leader election over coordination.k8s.io Leases. Two `gantry scheduler`s against
 * one API server: one holds the kube-scheduler Lease and schedules; killed, the other takes over once
 * the lease has gone unrenewed for its duration (15 s); stopped, a leader hands the lease back at once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Cleanup, kubectlFor, startScheduler, startServer, waitFor, type ClusterServer } from './helpers.js';

describe('leader election', () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  before(async () => {
    server = await startServer(cleanup, ['--disable-scheduler']);
  });
  after(() => cleanup.run());

  test('two schedulers: one leads, the other takes over within the lease duration of the leader dying', async () => {
    const { k, ok } = kubectlFor(() => server.env);
    const start = (n: number): { proc: ChildProcess; log: string } => {
      const log = path.join(server.dir, `scheduler-${n}.log`);
      return { proc: startScheduler(cleanup, server, log), log };
    };
    const schedulers = [start(1), start(2)];
    const holder = (): string =>
      k(['-n', 'kube-system', 'get', 'lease', 'kube-scheduler', '-o', 'jsonpath={.spec.holderIdentity}']).stdout;
    const leaderOf = (identity: string): number =>
      schedulers.findIndex((s) => identity !== '' && readFileSync(s.log, 'utf8').includes(`"identity":"${identity}"`));
    await waitFor(() => leaderOf(holder()) >= 0, 'a leader', 20000);
    const first = leaderOf(holder());
    const other = 1 - first;
    assert.doesNotMatch(readFileSync(schedulers[other]!.log, 'utf8'), /became leader/);
    assert.equal(
      ok(['-n', 'kube-system', 'get', 'lease', 'kube-scheduler', '-o', 'jsonpath={.spec.leaseDurationSeconds}']),
      '15',
    );
    const killedAt = Date.now();
    schedulers[first]!.proc.kill('SIGKILL');
    await waitFor(() => leaderOf(holder()) === other, 'the other scheduler leads', 25000);
    // Measured to the new leader's acquireTime: the lease runs 15 s from the dead leader's last renewal.
    const acquired = ok(['-n', 'kube-system', 'get', 'lease', 'kube-scheduler', '-o', 'jsonpath={.spec.acquireTime}']);
    const handover = Date.parse(acquired) - killedAt;
    assert.ok(handover <= 15500, `took over in ${handover} ms`);
    assert.equal(
      ok(['-n', 'kube-system', 'get', 'lease', 'kube-scheduler', '-o', 'jsonpath={.spec.leaseTransitions}']),
      '1',
    );
    // A leader that is stopped gives the lease up, so the next one need not wait it out.
    schedulers[other]!.proc.kill('SIGTERM');
    await new Promise((r) => schedulers[other]!.proc.once('exit', r));
    assert.equal(holder(), '');
    const third = start(3);
    schedulers.push(third);
    const since = Date.now();
    await waitFor(() => leaderOf(holder()) === 2, 'a new scheduler leads at once', 10000);
    assert.ok(Date.now() - since < 6000);
  });
});
