/** kube-scheduler's and kube-controller-manager's `--leader-elect*` flags, with Kubernetes' defaults. */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Command } from 'commander';
import { goDurationNs } from '../../common/time.js';

export interface LeaderFlags {
  leaderElect: boolean;
  leaderElectLeaseDuration: string;
  leaderElectRenewDeadline: string;
  leaderElectRetryPeriod: string;
  leaderElectResourceName: string;
  leaderElectResourceNamespace: string;
}

export function addLeaderElectionFlags(cmd: Command, resourceName: string): Command {
  return cmd
    .option('--leader-elect', 'run only while holding the leader lease (default true)', true)
    .option('--no-leader-elect', 'run without leader election')
    .option('--leader-elect-lease-duration <duration>', 'how long a lease holds without renewal', '15s')
    .option('--leader-elect-renew-deadline <duration>', 'how long a leader tries to renew before it stops', '10s')
    .option('--leader-elect-retry-period <duration>', 'the wait between attempts to take or renew', '2s')
    .option('--leader-elect-resource-name <name>', 'the Lease', resourceName)
    .option('--leader-elect-resource-namespace <namespace>', "the Lease's namespace", 'kube-system');
}

/** The flags as LeaderElector options, checked as Kubernetes checks them. */
export function leaderElection(o: LeaderFlags):
  | {
      leaseDurationMs: number;
      renewDeadlineMs: number;
      retryPeriodMs: number;
      name: string;
      namespace: string;
      identity: string;
    }
  | undefined {
  if (!o.leaderElect) return undefined;
  const ms = (flag: string, v: string): number => {
    const ns = goDurationNs(v);
    if (!ns || ns <= 0) throw new Error(`invalid --${flag} ${JSON.stringify(v)}: give a positive duration`);
    return ns / 1e6;
  };
  const leaseDurationMs = ms('leader-elect-lease-duration', o.leaderElectLeaseDuration);
  const renewDeadlineMs = ms('leader-elect-renew-deadline', o.leaderElectRenewDeadline);
  const retryPeriodMs = ms('leader-elect-retry-period', o.leaderElectRetryPeriod);
  if (leaseDurationMs <= renewDeadlineMs)
    throw new Error('leaderElection.leaseDuration: must be greater than renewDeadline');
  if (renewDeadlineMs <= retryPeriodMs * 1.2)
    throw new Error('leaderElection.renewDeadline: must be greater than retryPeriod*JitterFactor');
  return {
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    name: o.leaderElectResourceName,
    namespace: o.leaderElectResourceNamespace,
    identity: `${os.hostname()}_${randomUUID()}`,
  };
}
