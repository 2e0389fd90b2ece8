/**
 * The Job controller, after Kubernetes' `pkg/controller/job`: runs pods from the template until
 * `completions` of them succeed (`parallelism` at a time; without `completions`, until one succeeds and
 * the rest finish, a work queue), each index once for `completionMode: Indexed`. Failures count
 * against `backoffLimit` (container restarts too under `restartPolicy: OnFailure`), replacements wait
 * an exponential back-off, a pod failure policy may ignore a failure or fail the Job at once, and
 * with `backoffLimitPerIndex` each index of an Indexed Job has its own count, back-off and failure
 * (`maxFailedIndexes` bounds how many may fail), and
 * `activeDeadlineSeconds` bounds the whole run. A suspended Job has no pods. The outcome is a
 * `Complete` or `Failed` condition (what `kubectl wait --for=condition=complete` waits for).
 */
import type { Logger } from '../../common/log.js';
import { isNotFound } from '../api/errors.js';
import { nowRfc3339, type KObject } from '../api/object.js';
import { isPodReady, podStatus } from '../api/pod.js';
import { labelSelectorMatches, type LabelSelector } from '../api/selector.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { BY_OWNER, keyOf, ORPHANS_BY_NAMESPACE, type Informer } from '../client/informer.js';
import { matchedSuccessRule } from '../api/jobindexes.js';
import { WorkQueue } from './controller.js';
import {
  backoffMs,
  COMPLETION_INDEX,
  finishedAt,
  formatIndexes,
  INDEX_FAILURE_COUNT,
  INDEX_IGNORED_FAILURE_COUNT,
  indexFailures,
  indexOf,
  judgeFailure,
  restartsOf,
  type IndexFailures,
  type PodFailurePolicyRule,
} from './jobpods.js';
import {
  claimPods,
  createPods,
  deletePod,
  Expectations,
  queueOwnersOf,
  podFromTemplate,
  type OwnerKind,
} from './podcontrol.js';

export const JOB: OwnerKind = { apiVersion: 'batch/v1', kind: 'Job' };

/** Pods created per sync at most (Kubernetes' `MaxPodCreateDeletePerSync`). */
const BURST = 500;

export interface JobSpec {
  parallelism?: number;
  completions?: number | null;
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  completionMode?: 'NonIndexed' | 'Indexed';
  podFailurePolicy?: { rules?: PodFailurePolicyRule[] };
  suspend?: boolean;
  selector?: LabelSelector;
  template?: KObject;
  ttlSecondsAfterFinished?: number;
  /** `Failed`: a pod being deleted is replaced once it has finished; `TerminatingOrFailed` (default): at once. */
  podReplacementPolicy?: 'Failed' | 'TerminatingOrFailed';
  /** Indexed Jobs: failures each index may have before it is failed and not run again. */
  backoffLimitPerIndex?: number;
  /** With backoffLimitPerIndex: failed indexes past which the whole Job fails. */
  maxFailedIndexes?: number;
  /** Indexed Jobs: rules by which the Job succeeds before every index has (Kubernetes' JobSuccessPolicy). */
  successPolicy?: { rules?: Array<{ succeededIndexes?: string; succeededCount?: number }> };
}

export interface JobCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string;
  lastTransitionTime?: string;
}

export interface JobStatus {
  active?: number;
  succeeded?: number;
  failed?: number;
  ready?: number;
  /** Pods being deleted that have not finished. */
  terminating?: number;
  startTime?: string;
  completionTime?: string;
  completedIndexes?: string;
  /** Indexes out of retries, with backoffLimitPerIndex. */
  failedIndexes?: string;
  conditions?: JobCondition[];
}

export const jobSpec = (j: KObject): JobSpec => (j.spec ?? {}) as JobSpec;
export const jobStatus = (j: KObject): JobStatus => (j.status ?? {}) as JobStatus;

/** `Complete` or `Failed` when the Job has finished. */
export function jobFinished(j: KObject): JobCondition | undefined {
  return jobStatus(j).conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

function withCondition(conditions: JobCondition[], type: string, status: string, reason: string, message: string) {
  const was = conditions.find((c) => c.type === type);
  if (was?.status === status && was.reason === reason) return conditions;
  const now = nowRfc3339();
  return [
    ...conditions.filter((c) => c.type !== type),
    { type, status, reason, message, lastProbeTime: now, lastTransitionTime: now },
  ];
}

export class JobController {
  readonly queue = new WorkQueue();
  private readonly expectations = new Expectations();

  constructor(
    private readonly client: KubeClient,
    private readonly jobs: Informer,
    private readonly pods: Informer,
    private readonly logger: Logger,
    private readonly events?: EventRecorder,
  ) {
    pods.addIndex(BY_OWNER).addIndex(ORPHANS_BY_NAMESPACE);
    jobs.on({
      add: (o) => this.queue.add(keyOf(o)),
      update: (_old, o) => this.queue.add(keyOf(o)),
      delete: (o) => this.expectations.forget(keyOf(o)),
    });
    queueOwnersOf(pods, JOB, this.queue, this.expectations);
  }

  run(): Promise<void> {
    return this.queue.run('job', (key) => this.sync(key), this.logger, 4);
  }

  async sync(key: string): Promise<void> {
    const job = this.jobs.get(key);
    if (!job || job.metadata?.deletionTimestamp) return;
    const spec = jobSpec(job);
    const pods = await claimPods(
      this.client,
      job,
      JOB,
      (p) => labelSelectorMatches(spec.selector, p.metadata?.labels ?? {}),
      [...this.pods.byIndex(BY_OWNER, job.metadata?.uid ?? ''), ...this.pods.byIndex(ORPHANS_BY_NAMESPACE, keyNs(key))],
    );
    const prior = jobStatus(job);
    const active = pods.filter((p) => !p.metadata?.deletionTimestamp && !isTerminal(p));
    // Pods being deleted that have not finished: with podReplacementPolicy Failed they keep their place.
    const terminating = pods.filter((p) => p.metadata?.deletionTimestamp && !isTerminal(p));
    if (jobFinished(job)) {
      // A failed Job's stragglers are removed; a finished one does nothing more.
      if (active.length) await Promise.all(active.map((p) => deletePod(this.client, p)));
      return;
    }
    const now = Date.now();
    const indexed = spec.completionMode === 'Indexed';
    const completions = spec.completions ?? undefined;
    const succeededPods = pods.filter((p) => podStatus(p).phase === 'Succeeded');
    const succeededIndexes = new Set(
      indexed ? succeededPods.map((p) => indexOf(p, completions ?? 0)).filter((i) => i !== undefined) : [],
    );
    const succeeded = indexed ? succeededIndexes.size : succeededPods.length;
    let failJob: { reason: string; message: string } | undefined;
    let failed = 0;
    let lastFailure = 0;
    for (const p of pods.filter((x) => podStatus(x).phase === 'Failed')) {
      const verdict = judgeFailure(p, spec.podFailurePolicy?.rules);
      if (verdict.action === 'Ignore') continue;
      failed++;
      lastFailure = Math.max(lastFailure, finishedAt(p));
      if (verdict.action === 'FailJob') failJob ??= { reason: 'PodFailurePolicy', message: verdict.message };
    }
    const restarts = active.reduce((n, p) => n + restartsOf(p), 0);
    const perIndex =
      indexed && spec.backoffLimitPerIndex !== undefined
        ? indexFailures(
            pods.filter((x) => podStatus(x).phase === 'Failed'),
            completions ?? 0,
            spec.backoffLimitPerIndex,
            spec.podFailurePolicy?.rules,
          )
        : undefined;
    // An index that has succeeded is done, whatever failed before.
    for (const i of succeededIndexes) perIndex?.failed.delete(i);
    let conditions = prior.conditions ?? [];
    let startTime = prior.startTime;
    let completionTime: string | undefined;
    let want: KObject[] = [];
    let victims: KObject[] = [];

    if (spec.suspend) {
      victims = active;
      if (startTime || !conditions.some((c) => c.type === 'Suspended'))
        conditions = withCondition(conditions, 'Suspended', 'True', 'JobSuspended', 'Job suspended');
      startTime = undefined;
    } else {
      if (conditions.some((c) => c.type === 'Suspended' && c.status === 'True'))
        conditions = withCondition(conditions, 'Suspended', 'False', 'JobResumed', 'Job resumed');
      startTime ??= nowRfc3339();
      const deadline = spec.activeDeadlineSeconds;
      if (!failJob && failed + restarts > (spec.backoffLimit ?? 6))
        failJob = { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' };
      if (!failJob && deadline !== undefined && Date.parse(startTime) + deadline * 1000 <= now)
        failJob = { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' };
      if (!failJob && perIndex && spec.maxFailedIndexes !== undefined && perIndex.failed.size > spec.maxFailedIndexes)
        failJob = {
          reason: 'MaxFailedIndexesExceeded',
          message: 'Job has exceeded the specified maximal number of failed indexes',
        };
      // Every index has finished, some of them failed.
      if (!failJob && perIndex?.failed.size && succeeded + perIndex.failed.size >= (completions ?? 0))
        failJob = { reason: 'FailedIndexes', message: 'Job has failed indexes' };
      const complete = indexed
        ? succeeded >= (completions ?? 0)
        : completions !== undefined
          ? succeeded >= completions
          : succeeded > 0 && active.length === 0;
      const successRule =
        indexed && spec.successPolicy?.rules
          ? matchedSuccessRule(spec.successPolicy.rules, succeededIndexes, completions ?? 0)
          : -1;
      if (failJob) {
        victims = active;
        conditions = withCondition(conditions, 'Failed', 'True', failJob.reason, failJob.message);
        this.events?.record(job, 'Warning', failJob.reason, failJob.message);
      } else if (successRule >= 0 && !complete) {
        // A success policy met: the Job has succeeded, and the pods still running are not needed.
        const message = `Matched rules at index ${successRule}`;
        victims = active;
        completionTime = nowRfc3339();
        conditions = withCondition(conditions, 'SuccessCriteriaMet', 'True', 'SuccessPolicy', message);
        conditions = withCondition(conditions, 'Complete', 'True', 'SuccessPolicy', message);
        this.events?.record(job, 'Normal', 'Completed', 'Job completed');
      } else if (complete) {
        completionTime = nowRfc3339();
        conditions = withCondition(
          conditions,
          'Complete',
          'True',
          'CompletionsReached',
          'Reached expected number of succeeded pods',
        );
        this.events?.record(job, 'Normal', 'Completed', 'Job completed');
      } else if (this.expectations.satisfied(key)) {
        const counted = spec.podReplacementPolicy === 'Failed' ? [...active, ...terminating] : active;
        const wait = lastFailure + backoffMs(failed + restarts) - now;
        if (perIndex) {
          // A failed index's pods still running are stopped; the others wait out their own back-off.
          victims = active.filter((p) => perIndex.failed.has(indexOf(p, completions ?? 0) ?? -1));
          want = this.podsToCreate(job, counted, succeeded, succeededIndexes, { failures: perIndex, key, now });
        } else if (failed && wait > 0) this.queue.addAfter(key, wait);
        else want = this.podsToCreate(job, counted, succeeded, succeededIndexes);
        if (deadline !== undefined) this.queue.addAfter(key, Date.parse(startTime) + deadline * 1000 - now + 10);
      }
    }

    if (victims.length) {
      this.expectations.expect(key, 0, victims.map(keyOf));
      await Promise.all(victims.map((p) => deletePod(this.client, p)));
    }
    if (want.length) await this.create(key, job, want);
    const stillActive = active.length - victims.length + want.length;
    const status: JobStatus = {
      ...prior,
      active: stillActive,
      succeeded,
      failed,
      ready: victims.length ? 0 : active.filter(isPodReady).length,
      terminating: terminating.length,
      conditions,
      ...(indexed ? { completedIndexes: formatIndexes(succeededIndexes) } : {}),
      ...(perIndex ? { failedIndexes: formatIndexes(perIndex.failed) } : {}),
      ...(completionTime ? { completionTime } : {}),
    };
    if (startTime) status.startTime = startTime;
    else delete status.startTime;
    await this.writeStatus(job, status);
  }

  /**
   * The pods to start now: up to `parallelism` active, as many as completions still need. With
   * per-index failures, a failed index is skipped and one that failed before waits its own back-off.
   */
  private podsToCreate(
    job: KObject,
    active: KObject[],
    succeeded: number,
    done: Set<number>,
    perIndex?: { failures: IndexFailures; key: string; now: number },
  ): KObject[] {
    const spec = jobSpec(job);
    const parallelism = spec.parallelism ?? 1;
    const room = Math.min(BURST, parallelism - active.length);
    if (room <= 0) return [];
    const completions = spec.completions ?? undefined;
    if (spec.completionMode === 'Indexed') {
      const running = new Set(active.map((p) => indexOf(p, completions ?? 0)));
      const pending: number[] = [];
      let soonest = Infinity;
      for (let i = 0; i < (completions ?? 0) && pending.length < room; i++) {
        if (done.has(i) || running.has(i) || perIndex?.failures.failed.has(i)) continue;
        const count = perIndex?.failures.counts.get(i) ?? 0;
        const wait = perIndex ? (perIndex.failures.lastFailure.get(i) ?? 0) + backoffMs(count) - perIndex.now : 0;
        if (wait > 0) soonest = Math.min(soonest, wait);
        else pending.push(i);
      }
      if (perIndex && soonest < Infinity) this.queue.addAfter(perIndex.key, soonest);
      return pending.map((i) => this.indexedPod(job, i, perIndex?.failures));
    }
    const n =
      completions === undefined ? (succeeded > 0 ? 0 : room) : Math.min(room, completions - succeeded - active.length);
    return Array.from({ length: Math.max(0, n) }, () => podFromTemplate(job, JOB, spec.template));
  }

  private indexedPod(job: KObject, index: number, failures?: IndexFailures): KObject {
    const name = job.metadata!.name!;
    const counts: Record<string, string> = failures
      ? {
          [INDEX_FAILURE_COUNT]: String(failures.counts.get(index) ?? 0),
          [INDEX_IGNORED_FAILURE_COUNT]: String(failures.ignored.get(index) ?? 0),
        }
      : {};
    const pod = podFromTemplate(job, JOB, jobSpec(job).template, {
      labels: { [COMPLETION_INDEX]: String(index) },
      annotations: { [COMPLETION_INDEX]: String(index), ...counts },
    });
    pod.metadata!.generateName = `${name}-${index}-`;
    const spec = pod.spec as {
      hostname?: string;
      containers?: Array<{ env?: unknown[] }>;
      initContainers?: Array<{ env?: unknown[] }>;
    };
    spec.hostname ??= `${name}-${index}`;
    const env = {
      name: 'JOB_COMPLETION_INDEX',
      valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX}']` } },
    };
    for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) c.env = [...(c.env ?? []), env];
    return pod;
  }

  private async create(key: string, job: KObject, pods: KObject[]): Promise<void> {
    this.expectations.expect(key, pods.length);
    const { failed, error } = await createPods(this.client, pods, (p) =>
      this.events?.record(job, 'Normal', 'SuccessfulCreate', `Created pod: ${p.metadata?.name}`),
    );
    if (failed) {
      this.expectations.creationFailed(key, failed);
      this.events?.record(job, 'Warning', 'FailedCreate', `Error creating: ${String(error)}`);
      throw error;
    }
  }

  private async writeStatus(job: KObject, status: JobStatus): Promise<void> {
    if (JSON.stringify(status) === JSON.stringify(jobStatus(job))) return;
    const path = `${collectionPath('batch/v1', 'jobs', job.metadata!.namespace)}/${job.metadata!.name}/status`;
    await this.client.update(path, { ...job, status: status as Record<string, unknown> }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

const isTerminal = (p: KObject): boolean => ['Succeeded', 'Failed'].includes(podStatus(p).phase ?? '');
const keyNs = (key: string): string => key.split('/')[0]!;
