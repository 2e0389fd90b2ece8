import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { JobController, type JobStatus } from './job.js';
import { formatIndexes, judgeFailure } from './jobpods.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const JOB_STATUS = '/apis/batch/v1/namespaces/default/jobs/pi/status';
const PODS = '/api/v1/namespaces/default/pods';

const job = (spec: Record<string, unknown>, status: JobStatus = {}): KObject => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'pi', namespace: 'default', uid: 'job-uid', generation: 1 },
  spec: {
    completions: 1,
    parallelism: 1,
    backoffLimit: 6,
    selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'job-uid' } },
    template: { metadata: { labels: { 'batch.kubernetes.io/controller-uid': 'job-uid' } }, spec: {} },
    ...spec,
  },
  status: { ...status },
});

const pod = (
  name: string,
  phase: string,
  o: { index?: number; exitCode?: number; restarts?: number; finished?: string; failures?: number } = {},
): KObject => ({
  metadata: {
    name,
    namespace: 'default',
    labels: { 'batch.kubernetes.io/controller-uid': 'job-uid' },
    ...(o.index !== undefined
      ? {
          annotations: {
            'batch.kubernetes.io/job-completion-index': String(o.index),
            ...(o.failures !== undefined ? { 'batch.kubernetes.io/job-index-failure-count': String(o.failures) } : {}),
          },
        }
      : {}),
    ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'pi', uid: 'job-uid', controller: true }],
  },
  spec: { nodeName: 'n1' },
  status: {
    phase,
    containerStatuses: [
      {
        name: 'main',
        restartCount: o.restarts ?? 0,
        state:
          o.exitCode !== undefined
            ? { terminated: { exitCode: o.exitCode, finishedAt: o.finished ?? '2020-01-01T00:00:00Z' } }
            : { running: {} },
      },
    ],
  },
});

const terminating = (p: KObject): KObject => ({
  ...p,
  metadata: { ...p.metadata, deletionTimestamp: '2020-01-01T00:00:00Z' },
});

async function syncOnce(j: KObject, pods: KObject[]): Promise<FakeClient> {
  const client = new FakeClient().seed('/apis/batch/v1', 'jobs', j).seed('/api/v1', 'pods', ...pods);
  const inf = await informers(client, '/apis/batch/v1/jobs', '/api/v1/pods');
  const controller = new JobController(client, inf.get('/apis/batch/v1/jobs'), inf.get('/api/v1/pods'), quietLogger);
  await controller.sync('default/pi');
  inf.stop();
  controller.queue.stop();
  return client;
}

const lastStatus = (client: FakeClient): JobStatus =>
  ((client.actions.filter((a) => a.path === JOB_STATUS).pop()?.body as KObject | undefined)?.status ?? {}) as JobStatus;
const conditionOf = (s: JobStatus, type: string): string | undefined =>
  s.conditions?.find((c) => c.type === type && c.status === 'True')?.reason;

test('the Job controller runs pods until completions succeed, parallelism at a time', async () => {
  const cases: Array<{
    name: string;
    spec: Record<string, unknown>;
    pods: KObject[];
    creates: number;
    deletes?: number;
    condition?: [string, string];
    status?: Partial<JobStatus>;
  }> = [
    { name: 'starts parallelism pods', spec: { completions: 5, parallelism: 2 }, pods: [], creates: 2 },
    {
      name: 'never more than the completions still needed',
      spec: { completions: 3, parallelism: 5 },
      pods: [pod('a', 'Succeeded', { exitCode: 0 }), pod('b', 'Running')],
      creates: 1,
      status: { succeeded: 1, active: 2 },
    },
    {
      name: 'complete when completions succeeded',
      spec: { completions: 2 },
      pods: [pod('a', 'Succeeded', { exitCode: 0 }), pod('b', 'Succeeded', { exitCode: 0 })],
      creates: 0,
      condition: ['Complete', 'CompletionsReached'],
      status: { succeeded: 2, active: 0 },
    },
    {
      name: 'work queue (no completions): done when one succeeded and none run',
      spec: { completions: undefined, parallelism: 3 },
      pods: [pod('a', 'Succeeded', { exitCode: 0 })],
      creates: 0,
      condition: ['Complete', 'CompletionsReached'],
    },
    {
      name: 'backoff limit exceeded fails the job and removes its pods',
      spec: { backoffLimit: 1, completions: 3, parallelism: 2 },
      pods: [pod('a', 'Failed', { exitCode: 1 }), pod('b', 'Failed', { exitCode: 1 }), pod('c', 'Running')],
      creates: 0,
      deletes: 1,
      condition: ['Failed', 'BackoffLimitExceeded'],
      status: { failed: 2 },
    },
    {
      name: 'OnFailure restarts count as failures',
      spec: { backoffLimit: 2 },
      pods: [pod('a', 'Running', { restarts: 3 })],
      creates: 0,
      deletes: 1,
      condition: ['Failed', 'BackoffLimitExceeded'],
    },
    {
      name: 'a failure long ago is replaced (back-off over)',
      spec: {},
      pods: [pod('a', 'Failed', { exitCode: 1 })],
      creates: 1,
      status: { failed: 1 },
    },
    {
      name: 'a fresh failure waits for its back-off',
      spec: {},
      pods: [pod('a', 'Failed', { exitCode: 1, finished: new Date().toISOString() })],
      creates: 0,
    },
    {
      name: 'the pod failure policy fails the job at once',
      spec: {
        podFailurePolicy: { rules: [{ action: 'FailJob', onExitCodes: { operator: 'In', values: [42] } }] },
      },
      pods: [pod('a', 'Failed', { exitCode: 42 })],
      creates: 0,
      condition: ['Failed', 'PodFailurePolicy'],
    },
    {
      name: 'the pod failure policy ignores a failure',
      spec: {
        backoffLimit: 0,
        podFailurePolicy: { rules: [{ action: 'Ignore', onExitCodes: { operator: 'In', values: [3] } }] },
      },
      pods: [pod('a', 'Failed', { exitCode: 3 })],
      creates: 1,
      status: { failed: 0 },
    },
    {
      name: 'the deadline passed fails the job',
      spec: { activeDeadlineSeconds: 5 },
      pods: [pod('a', 'Running')],
      creates: 0,
      deletes: 1,
      condition: ['Failed', 'DeadlineExceeded'],
    },
    {
      name: 'suspended: pods removed, nothing made',
      spec: { suspend: true, completions: 3, parallelism: 3 },
      pods: [pod('a', 'Running')],
      creates: 0,
      deletes: 1,
      condition: ['Suspended', 'JobSuspended'],
    },
    {
      name: 'a pod being deleted is replaced at once (podReplacementPolicy TerminatingOrFailed)',
      spec: { completions: 2, parallelism: 2, podReplacementPolicy: 'TerminatingOrFailed' },
      pods: [terminating(pod('a', 'Running')), pod('b', 'Running')],
      creates: 1,
      status: { active: 2, terminating: 1 },
    },
    {
      name: 'with podReplacementPolicy Failed it keeps its place until it has finished',
      spec: { completions: 2, parallelism: 2, podReplacementPolicy: 'Failed' },
      pods: [terminating(pod('a', 'Running')), pod('b', 'Running')],
      creates: 0,
      status: { active: 1, terminating: 1 },
    },
    {
      name: 'Indexed with podReplacementPolicy Failed: a terminating index is not started again',
      spec: { completionMode: 'Indexed', completions: 2, parallelism: 2, podReplacementPolicy: 'Failed' },
      pods: [terminating(pod('a', 'Running', { index: 0 })), pod('b', 'Running', { index: 1 })],
      creates: 0,
    },
    {
      name: 'Indexed with a success policy met: complete, the running pods removed',
      spec: {
        completionMode: 'Indexed',
        completions: 4,
        parallelism: 4,
        successPolicy: { rules: [{ succeededIndexes: '0-1', succeededCount: 1 }] },
      },
      pods: [pod('a', 'Succeeded', { index: 1, exitCode: 0 }), pod('b', 'Running', { index: 2 })],
      creates: 0,
      deletes: 1,
      condition: ['Complete', 'SuccessPolicy'],
      status: { succeeded: 1 },
    },
    {
      name: 'Indexed with a success policy not yet met: the missing indexes run',
      spec: {
        completionMode: 'Indexed',
        completions: 4,
        parallelism: 4,
        successPolicy: { rules: [{ succeededIndexes: '0,3' }] },
      },
      pods: [pod('a', 'Succeeded', { index: 0, exitCode: 0 })],
      creates: 3,
    },
    {
      name: 'Indexed: the missing indexes run, succeeded ones are listed',
      spec: { completionMode: 'Indexed', completions: 4, parallelism: 4 },
      pods: [pod('a', 'Succeeded', { index: 0, exitCode: 0 }), pod('b', 'Running', { index: 2 })],
      creates: 2,
      status: { succeeded: 1, completedIndexes: '0' },
    },
  ];
  for (const c of cases) {
    const deadline = c.spec.activeDeadlineSeconds ? { startTime: '2020-01-01T00:00:00Z' } : {};
    const client = await syncOnce(job(c.spec, deadline), c.pods);
    const verbs = client.verbs();
    assert.equal(verbs.filter((v) => v === `create ${PODS}`).length, c.creates, `${c.name}: creates`);
    assert.equal(verbs.filter((v) => v.startsWith(`delete ${PODS}/`)).length, c.deletes ?? 0, `${c.name}: deletes`);
    const status = lastStatus(client);
    if (c.condition) assert.equal(conditionOf(status, c.condition[0]), c.condition[1], `${c.name}: condition`);
    else assert.equal(conditionOf(status, 'Complete') ?? conditionOf(status, 'Failed'), undefined, c.name);
    for (const [k, v] of Object.entries(c.status ?? {}))
      assert.deepEqual(status[k as keyof JobStatus], v, `${c.name}: status.${k}`);
  }
});

test('backoffLimitPerIndex: each index has its own count, back-off and failure', async () => {
  const base = {
    completionMode: 'Indexed',
    completions: 3,
    parallelism: 3,
    backoffLimitPerIndex: 1,
    backoffLimit: 2147483647,
  };
  const failedAt = (index: number, failures: number, more: { exitCode?: number; finished?: string } = {}): KObject =>
    pod(`f${index}-${failures}`, 'Failed', { index, failures, exitCode: 1, ...more });
  const running = (index: number): KObject => pod(`r${index}`, 'Running', { index });
  const succeeded = (index: number): KObject => pod(`s${index}`, 'Succeeded', { index, exitCode: 0 });
  const cases: Array<{
    name: string;
    spec?: Record<string, unknown>;
    pods: KObject[];
    creates: number;
    deletes?: number;
    condition?: [string, string];
    status?: Partial<JobStatus>;
    createdCount?: string;
  }> = [
    {
      name: "a first failure is retried; the new pod carries its index's count",
      pods: [failedAt(0, 0), running(1), running(2)],
      creates: 1,
      createdCount: '1',
      status: { failedIndexes: '', failed: 1 },
    },
    {
      name: 'an index past its limit is failed and not run again; the others go on',
      pods: [failedAt(0, 1), running(1), running(2)],
      creates: 0,
      status: { failedIndexes: '0' },
    },
    {
      name: 'every index finished, some failed: the Job fails',
      pods: [failedAt(0, 1), succeeded(1), succeeded(2)],
      creates: 0,
      condition: ['Failed', 'FailedIndexes'],
      status: { failedIndexes: '0', completedIndexes: '1-2' },
    },
    {
      name: 'more failed indexes than maxFailedIndexes: the Job fails and its pods are removed',
      spec: { maxFailedIndexes: 0 },
      pods: [failedAt(0, 1), running(1)],
      creates: 0,
      deletes: 1,
      condition: ['Failed', 'MaxFailedIndexesExceeded'],
    },
    {
      name: 'a FailIndex rule fails the index at its first failure',
      spec: { podFailurePolicy: { rules: [{ action: 'FailIndex', onExitCodes: { operator: 'In', values: [42] } }] } },
      pods: [failedAt(0, 0, { exitCode: 42 }), running(1), running(2)],
      creates: 0,
      status: { failedIndexes: '0' },
    },
    {
      name: 'an index that failed a moment ago waits; the others start',
      pods: [failedAt(0, 0, { finished: new Date().toISOString() })],
      creates: 2,
    },
    {
      name: 'an index that has succeeded is not failed by its earlier failures',
      pods: [failedAt(0, 1), succeeded(0), running(1), running(2)],
      creates: 0,
      status: { failedIndexes: '', completedIndexes: '0' },
    },
  ];
  for (const c of cases) {
    const client = await syncOnce(job({ ...base, ...c.spec }), c.pods);
    const verbs = client.verbs();
    assert.equal(verbs.filter((v) => v === `create ${PODS}`).length, c.creates, `${c.name}: creates`);
    assert.equal(verbs.filter((v) => v.startsWith(`delete ${PODS}/`)).length, c.deletes ?? 0, `${c.name}: deletes`);
    const status = lastStatus(client);
    if (c.condition) assert.equal(conditionOf(status, c.condition[0]), c.condition[1], `${c.name}: condition`);
    else assert.equal(conditionOf(status, 'Complete') ?? conditionOf(status, 'Failed'), undefined, c.name);
    for (const [k, v] of Object.entries(c.status ?? {}))
      assert.deepEqual(status[k as keyof JobStatus], v, `${c.name}: status.${k}`);
    if (c.createdCount !== undefined) {
      const created = client.actions.find((a) => a.verb === 'create')!.body as KObject;
      assert.equal(created.metadata?.annotations?.['batch.kubernetes.io/job-index-failure-count'], c.createdCount);
      assert.equal(created.metadata?.annotations?.['batch.kubernetes.io/job-completion-index'], '0');
    }
  }
});

test('Indexed Jobs give each pod its index: name, hostname, annotation and JOB_COMPLETION_INDEX', async () => {
  const client = await syncOnce(
    job({
      completionMode: 'Indexed',
      completions: 2,
      parallelism: 1,
      template: { spec: { containers: [{ name: 'm' }] } },
    }),
    [],
  );
  const created = client.actions.find((a) => a.verb === 'create')!.body as KObject;
  assert.equal(created.metadata?.generateName, 'pi-0-');
  assert.equal(created.metadata?.annotations?.['batch.kubernetes.io/job-completion-index'], '0');
  assert.equal((created.spec as { hostname?: string }).hostname, 'pi-0');
  assert.deepEqual((created.spec as { containers: Array<{ env: unknown[] }> }).containers[0]!.env, [
    {
      name: 'JOB_COMPLETION_INDEX',
      valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } },
    },
  ]);
});

test('completed indexes are written as ranges; failure policy messages name the container', () => {
  assert.equal(formatIndexes([5, 0, 1, 2, 7, 8]), '0-2,5,7-8');
  assert.equal(formatIndexes([]), '');
  const verdict = judgeFailure(pod('a', 'Failed', { exitCode: 42 }), [
    { action: 'FailJob', onExitCodes: { operator: 'NotIn', values: [0, 1] } },
  ]);
  assert.deepEqual(verdict, {
    action: 'FailJob',
    message: 'Container main for pod default/a failed with exit code 42 matching FailJob rule at index 0',
  });
});
