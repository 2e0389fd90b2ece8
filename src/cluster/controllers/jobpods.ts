/**
 * What the Job controller reads off its pods, after Kubernetes' `pkg/controller/job`: which failures
 * count (a pod failure policy may ignore a failure or fail the Job at once), completion indexes of
 * Indexed Jobs and their `completedIndexes` text, and the back-off before a failed pod is replaced.
 */
import type { KObject } from '../api/object.js';
import { podCondition, podStatus } from '../api/pod.js';

export const COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';
/** Counted and ignored failures of an index before this pod, on pods of Jobs with `backoffLimitPerIndex`. */
export const INDEX_FAILURE_COUNT = 'batch.kubernetes.io/job-index-failure-count';
export const INDEX_IGNORED_FAILURE_COUNT = 'batch.kubernetes.io/job-index-ignored-failure-count';

/** Kubernetes' `DefaultJobPodFailureBackOff` and `MaxJobPodFailureBackOff`. */
const BACKOFF_BASE_MS = 10_000;
const BACKOFF_MAX_MS = 600_000;

export interface PodFailurePolicyRule {
  action: 'FailJob' | 'Ignore' | 'Count' | 'FailIndex';
  onExitCodes?: { containerName?: string; operator: 'In' | 'NotIn'; values: number[] };
  onPodConditions?: Array<{ type: string; status?: string }>;
}

/** How a failed pod is judged: counted, ignored, failing its index at once, or failing the Job with this message. */
export type FailureVerdict = { action: 'Count' | 'Ignore' | 'FailIndex' } | { action: 'FailJob'; message: string };

/** The first rule of `spec.podFailurePolicy` a failed pod matches decides; none: it counts. */
export function judgeFailure(pod: KObject, rules: PodFailurePolicyRule[] | undefined): FailureVerdict {
  const who = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  for (const [i, rule] of (rules ?? []).entries()) {
    let reason: string | undefined;
    if (rule.onExitCodes) {
      const { containerName, operator, values } = rule.onExitCodes;
      const statuses = [...(podStatus(pod).initContainerStatuses ?? []), ...(podStatus(pod).containerStatuses ?? [])];
      for (const s of statuses) {
        const code = s.state?.terminated?.exitCode;
        if (code === undefined || code === 0 || (containerName && s.name !== containerName)) continue;
        if (operator === 'In' ? values.includes(code) : !values.includes(code)) {
          reason = `Container ${s.name} for pod ${who} failed with exit code ${code}`;
          break;
        }
      }
    } else if (rule.onPodConditions) {
      const hit = rule.onPodConditions.find((c) => podCondition(pod, c.type)?.status === (c.status ?? 'True'));
      if (hit) reason = `Pod ${who} has condition ${hit.type}`;
    }
    if (reason === undefined) continue;
    if (rule.action === 'FailJob')
      return { action: 'FailJob', message: `${reason} matching FailJob rule at index ${i}` };
    return { action: rule.action };
  }
  return { action: 'Count' };
}

/** What the failed pods of an Indexed Job with `backoffLimitPerIndex` say about each index. */
export interface IndexFailures {
  /** Counted failures of each index so far: what its next pod carries in INDEX_FAILURE_COUNT. */
  counts: Map<number, number>;
  ignored: Map<number, number>;
  /** When each index's latest counted failure finished (ms since the epoch), for its own back-off. */
  lastFailure: Map<number, number>;
  /** Indexes past `backoffLimitPerIndex`, or failed by a FailIndex rule: not run again. */
  failed: Set<number>;
}

const annotationCount = (pod: KObject, key: string): number => {
  const text = pod.metadata?.annotations?.[key];
  return text !== undefined && /^\d{1,9}$/.test(text) ? Number(text) : 0;
};

/**
 * Per-index failure counts as Kubernetes keeps them (`indexed_job_utils.go`): each replacement pod
 * carries its index's failures so far, so a count survives its failed pods being removed; an index
 * fails once its count passes `backoffLimitPerIndex` or a FailIndex rule matches.
 */
export function indexFailures(
  failedPods: KObject[],
  completions: number,
  backoffLimitPerIndex: number,
  rules: PodFailurePolicyRule[] | undefined,
): IndexFailures {
  const out: IndexFailures = { counts: new Map(), ignored: new Map(), lastFailure: new Map(), failed: new Set() };
  const raise = (m: Map<number, number>, i: number, n: number): void => void m.set(i, Math.max(m.get(i) ?? 0, n));
  for (const pod of failedPods) {
    const i = indexOf(pod, completions);
    if (i === undefined) continue;
    const before = annotationCount(pod, INDEX_FAILURE_COUNT);
    const verdict = judgeFailure(pod, rules);
    if (verdict.action === 'Ignore') {
      raise(out.counts, i, before);
      raise(out.ignored, i, annotationCount(pod, INDEX_IGNORED_FAILURE_COUNT) + 1);
      continue;
    }
    raise(out.counts, i, before + 1);
    raise(out.lastFailure, i, finishedAt(pod));
    if (verdict.action === 'FailIndex') out.failed.add(i);
  }
  for (const [i, n] of out.counts) if (n > backoffLimitPerIndex) out.failed.add(i);
  return out;
}

/** Container restarts of a pod (what an `OnFailure` Job counts as failures). */
export function restartsOf(pod: KObject): number {
  const statuses = [...(podStatus(pod).initContainerStatuses ?? []), ...(podStatus(pod).containerStatuses ?? [])];
  return statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0);
}

/** The completion index of an Indexed Job's pod, if it carries a valid one. */
export function indexOf(pod: KObject, completions: number): number | undefined {
  const text = pod.metadata?.annotations?.[COMPLETION_INDEX] ?? pod.metadata?.labels?.[COMPLETION_INDEX];
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n < completions ? n : undefined;
}

/** `0-2,4,6-7`: the indexes as Kubernetes writes `status.completedIndexes`. */
export function formatIndexes(indexes: Iterable<number>): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** How long after the last failure a replacement waits: 10 s doubled per failure, at most 10 min. */
export function backoffMs(failures: number): number {
  return failures <= 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - 1));
}

/** When a failed pod finished (its containers' latest finishedAt), in ms since the epoch. */
export function finishedAt(pod: KObject): number {
  const statuses = podStatus(pod).containerStatuses ?? [];
  const times = statuses.map((s) => Date.parse(s.state?.terminated?.finishedAt ?? '')).filter(Number.isFinite);
  return times.length ? Math.max(...times) : Date.now();
}
