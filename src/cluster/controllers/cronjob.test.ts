import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.js';
import { CronJobController, scheduledTimes } from './cronjob.js';
import { FakeClient, informers, quietLogger } from './testing.js';

const JOBS = '/apis/batch/v1/namespaces/default/jobs';
const at = Date.parse;

const cronJob = (spec: Record<string, unknown>, status: Record<string, unknown> = {}): KObject => ({
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name: 'tick', namespace: 'default', uid: 'cj-uid', creationTimestamp: '2026-12-02T10:00:00Z' },
  spec: { schedule: '*/5 * * * *', concurrencyPolicy: 'Allow', jobTemplate: { spec: { template: {} } }, ...spec },
  status,
});

const ownedJob = (name: string, finished?: 'Complete' | 'Failed', start = '2026-12-02T10:05:00Z'): KObject => ({
  metadata: {
    name,
    namespace: 'default',
    ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'tick', uid: 'cj-uid', controller: true }],
  },
  status: {
    startTime: start,
    ...(finished ? { conditions: [{ type: finished, status: 'True' }], completionTime: start } : {}),
  },
});

test('scheduled times: the latest due, how many were missed, the next', () => {
  const r = scheduledTimes('*/5 * * * *', 'UTC', at('2026-12-02T10:00:00Z'), at('2026-12-02T10:12:00Z'));
  assert.deepEqual(r, { latest: at('2026-12-02T10:10:00Z'), missed: 2, next: at('2026-12-02T10:15:00Z') });
  const many = scheduledTimes('* * * * *', 'UTC', at('2026-12-01T00:00:00Z'), at('2026-12-02T10:12:30Z'));
  assert.equal(many.latest, at('2026-12-02T10:12:00Z'));
  assert.ok(many.missed > 100);
});

test('the CronJob controller makes one Job per scheduled time, as its concurrency policy says', async () => {
  const now = at('2026-12-02T10:11:00Z');
  const cases: Array<{ name: string; cj: KObject; jobs: KObject[]; want: string[] }> = [
    { name: 'due: a Job named after the minute', cj: cronJob({}), jobs: [], want: [`create ${JOBS}`] },
    {
      name: 'already made for that time',
      cj: cronJob({}, { lastScheduleTime: '2026-12-02T10:10:00Z' }),
      jobs: [ownedJob(`tick-${at('2026-12-02T10:10:00Z') / 60000}`)],
      want: [],
    },
    { name: 'suspended', cj: cronJob({ suspend: true }), jobs: [], want: [] },
    {
      name: 'Forbid with one running',
      cj: cronJob({ concurrencyPolicy: 'Forbid' }),
      jobs: [ownedJob('old')],
      want: [],
    },
    {
      name: 'Replace deletes the running one first',
      cj: cronJob({ concurrencyPolicy: 'Replace' }),
      jobs: [ownedJob('old')],
      want: [`delete ${JOBS}/old`, `create ${JOBS}`],
    },
    {
      name: 'missed by more than startingDeadlineSeconds',
      cj: cronJob({ startingDeadlineSeconds: 30 }),
      jobs: [],
      want: [],
    },
    {
      name: 'history limits remove the oldest finished',
      cj: cronJob(
        { successfulJobsHistoryLimit: 1, failedJobsHistoryLimit: 0 },
        { lastScheduleTime: '2026-12-02T10:10:00Z' },
      ),
      jobs: [
        ownedJob('s1', 'Complete', '2026-12-02T10:00:00Z'),
        ownedJob('s2', 'Complete', '2026-12-02T10:05:00Z'),
        ownedJob('f1', 'Failed'),
      ],
      want: [`delete ${JOBS}/s1`, `delete ${JOBS}/f1`],
    },
  ];
  for (const c of cases) {
    const client = new FakeClient().seed('/apis/batch/v1', 'cronjobs', c.cj).seed('/apis/batch/v1', 'jobs', ...c.jobs);
    const inf = await informers(client, '/apis/batch/v1/cronjobs', '/apis/batch/v1/jobs');
    const controller = new CronJobController(
      client,
      inf.get('/apis/batch/v1/cronjobs'),
      inf.get('/apis/batch/v1/jobs'),
      quietLogger,
    );
    await controller.sync('default/tick', now);
    inf.stop();
    controller.queue.stop();
    assert.deepEqual(
      client.verbs().filter((v) => !v.endsWith('/status')),
      c.want,
      c.name,
    );
    const created = client.actions.find((a) => a.verb === 'create')?.body as KObject | undefined;
    if (created) {
      assert.equal(created.metadata?.name, `tick-${at('2026-12-02T10:10:00Z') / 60000}`);
      assert.equal(
        created.metadata?.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'],
        '2026-12-02T10:10:00Z',
      );
    }
  }
});
