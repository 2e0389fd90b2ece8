/**
 * The CronJob controller, after Kubernetes' `cronjob_controllerv2.go`: at each scheduled time (in the
 * CronJob's `timeZone`) it makes a Job from `jobTemplate`, named after the scheduled minute so a time
 * is never run twice; `concurrencyPolicy` decides what an unfinished earlier Job means (Allow: run
 * anyway, Forbid: skip, Replace: delete it first); a time missed by more than `startingDeadlineSeconds`
 * is skipped; finished Jobs beyond the history limits are deleted; status lists the active Jobs and the
 * last schedule and success times. Each sync sleeps until the next scheduled time.
 */
import type { Logger } from '../../common/log.js';
import { isAlreadyExists, isNotFound } from '../api/errors.js';
import { nextRun, parseCron } from '../api/cron.js';
import { controllerOf, keyOf, type KObject } from '../api/object.js';
import { collectionPath, type KubeClient } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import { BY_OWNER, type Informer } from '../client/informer.js';
import { WorkQueue } from './controller.js';
import { jobFinished, jobStatus } from './job.js';
import { ownerReference, type OwnerKind } from './podcontrol.js';

const CRON_JOB: OwnerKind = { apiVersion: 'batch/v1', kind: 'CronJob' };
const SCHEDULED_AT = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** Kubernetes gives up counting missed times beyond this many and says so. */
const MAX_MISSED = 100;

interface CronJobSpec {
  schedule?: string;
  timeZone?: string;
  startingDeadlineSeconds?: number;
  concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
  suspend?: boolean;
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
  jobTemplate?: KObject;
}

interface CronJobStatus {
  active?: Array<Record<string, unknown>>;
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
}

const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * The latest scheduled time in (`earliest`, `now`], how many there were (up to MAX_MISSED + 1), and
 * the next one after `now`.
 */
export function scheduledTimes(
  schedule: string,
  zone: string,
  earliest: number,
  now: number,
): { latest?: number; missed: number; next?: number } {
  const s = parseCron(schedule);
  let latest: number | undefined;
  let missed = 0;
  for (let t = nextRun(s, earliest, zone); t !== undefined && t <= now; t = nextRun(s, t, zone)) {
    latest = t;
    if (++missed > MAX_MISSED) {
      // Too many to walk one by one: look back from now in a window that doubles until it holds one.
      const first = nextRun(s, earliest, zone)!;
      for (let window = Math.max(60_000, (nextRun(s, first, zone) ?? now) - first); ; window *= 2) {
        latest = undefined;
        const from = Math.max(earliest, now - window);
        for (let u = nextRun(s, from, zone); u !== undefined && u <= now; u = nextRun(s, u, zone)) latest = u;
        if (latest !== undefined || from === earliest) break;
      }
      break;
    }
  }
  return { latest, missed, next: nextRun(s, now, zone) };
}

export class CronJobController {
  readonly queue = new WorkQueue();

  constructor(
    private readonly client: KubeClient,
    private readonly cronJobs: Informer,
    private readonly jobs: Informer,
    private readonly logger: Logger,
    private readonly events?: EventRecorder,
  ) {
    jobs.addIndex(BY_OWNER);
    cronJobs.on({ add: (o) => this.queue.add(keyOf(o)), update: (_old, o) => this.queue.add(keyOf(o)) });
    const owner = (j: KObject): void => {
      const ref = controllerOf(j);
      if (ref?.kind === 'CronJob') this.queue.add(`${j.metadata?.namespace}/${ref.name}`);
    };
    jobs.on({ add: owner, update: (_old, j) => owner(j), delete: owner });
  }

  run(): Promise<void> {
    return this.queue.run('cronjob', (key) => this.sync(key), this.logger);
  }

  async sync(key: string, now = Date.now()): Promise<void> {
    const cj = this.cronJobs.get(key);
    if (!cj || cj.metadata?.deletionTimestamp) return;
    const spec = (cj.spec ?? {}) as CronJobSpec;
    const prior = (cj.status ?? {}) as CronJobStatus;
    const owned = this.jobs
      .byIndex(BY_OWNER, cj.metadata?.uid ?? '')
      .filter((j) => controllerOf(j)?.uid === cj.metadata?.uid);
    let active = owned.filter((j) => !jobFinished(j) && !j.metadata?.deletionTimestamp);
    const succeeded = owned.filter((j) => jobFinished(j)?.type === 'Complete');
    const lastSuccess = succeeded
      .map((j) => jobStatus(j).completionTime ?? '')
      .sort()
      .pop();
    await this.pruneHistory(cj, owned, spec);
    const status: CronJobStatus = { ...prior, ...(lastSuccess ? { lastSuccessfulTime: lastSuccess } : {}) };

    if (!spec.suspend && spec.schedule) {
      const zone = spec.timeZone ?? 'UTC';
      const lastScheduled = Date.parse(prior.lastScheduleTime ?? cj.metadata?.creationTimestamp ?? '');
      let earliest = Number.isFinite(lastScheduled) ? lastScheduled : now;
      if (spec.startingDeadlineSeconds !== undefined)
        earliest = Math.max(earliest, now - spec.startingDeadlineSeconds * 1000);
      const { latest, missed, next } = scheduledTimes(spec.schedule, zone, earliest, now);
      if (missed > MAX_MISSED)
        this.events?.record(
          cj,
          'Warning',
          'TooManyMissedTimes',
          'too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew',
        );
      if (next !== undefined) this.queue.addAfter(key, next - now + 100);
      if (latest !== undefined) {
        const name = `${cj.metadata!.name}-${Math.floor(latest / 60_000)}`;
        const exists = owned.some((j) => j.metadata?.name === name);
        if (!exists && spec.concurrencyPolicy === 'Forbid' && active.length) {
          this.events?.record(
            cj,
            'Normal',
            'JobAlreadyActive',
            'Not starting job because prior execution is running and concurrency policy is Forbid',
          );
        } else if (!exists) {
          if (spec.concurrencyPolicy === 'Replace' && active.length) {
            await Promise.all(active.map((j) => this.deleteJob(cj, j)));
            active = [];
          }
          const job = await this.createJob(cj, spec, name, latest, zone);
          if (job) active = [...active, job];
          status.lastScheduleTime = rfc3339(latest);
        }
      }
    }
    status.active = active.map((j) => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      name: j.metadata?.name,
      namespace: j.metadata?.namespace,
      uid: j.metadata?.uid,
      resourceVersion: j.metadata?.resourceVersion,
    }));
    if (!status.active.length) delete status.active;
    await this.writeStatus(cj, status);
  }

  private async createJob(
    cj: KObject,
    spec: CronJobSpec,
    name: string,
    at: number,
    zone: string,
  ): Promise<KObject | undefined> {
    const template = spec.jobTemplate ?? {};
    const job: KObject = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name,
        namespace: cj.metadata!.namespace,
        labels: { ...template.metadata?.labels },
        annotations: { ...template.metadata?.annotations, [SCHEDULED_AT]: zonedRfc3339(at, zone) },
        ownerReferences: [ownerReference(cj, CRON_JOB)],
      },
      spec: structuredClone(template.spec ?? {}),
    };
    try {
      const made = await this.client.create(collectionPath('batch/v1', 'jobs', cj.metadata!.namespace), job);
      this.events?.record(cj, 'Normal', 'SuccessfulCreate', `Created job ${name}`);
      return made;
    } catch (err) {
      if (isAlreadyExists(err)) return undefined;
      this.events?.record(cj, 'Warning', 'FailedCreate', `Error creating job: ${String(err)}`);
      throw err;
    }
  }

  private async deleteJob(cj: KObject, job: KObject): Promise<void> {
    const path = `${collectionPath('batch/v1', 'jobs', job.metadata?.namespace)}/${job.metadata?.name}`;
    await this.client.delete(path, { propagationPolicy: 'Background' }).then(
      () => this.events?.record(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${job.metadata?.name}`),
      (err: unknown) => {
        if (!isNotFound(err)) throw err;
      },
    );
  }

  /** Finished Jobs beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`, oldest first, go. */
  private async pruneHistory(cj: KObject, owned: KObject[], spec: CronJobSpec): Promise<void> {
    const byStart = (a: KObject, b: KObject): number =>
      String(jobStatus(a).startTime ?? a.metadata?.creationTimestamp).localeCompare(
        String(jobStatus(b).startTime ?? b.metadata?.creationTimestamp),
      );
    for (const [type, limit] of [
      ['Complete', spec.successfulJobsHistoryLimit ?? 3],
      ['Failed', spec.failedJobsHistoryLimit ?? 1],
    ] as const) {
      const done = owned.filter((j) => jobFinished(j)?.type === type && !j.metadata?.deletionTimestamp).sort(byStart);
      await Promise.all(done.slice(0, Math.max(0, done.length - limit)).map((j) => this.deleteJob(cj, j)));
    }
  }

  private async writeStatus(cj: KObject, status: CronJobStatus): Promise<void> {
    if (JSON.stringify(status) === JSON.stringify(cj.status ?? {})) return;
    const path = `${collectionPath('batch/v1', 'cronjobs', cj.metadata!.namespace)}/${cj.metadata!.name}/status`;
    await this.client.update(path, { ...cj, status: status as Record<string, unknown> }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

/** RFC 3339 with the zone's offset, as Kubernetes writes the scheduled-timestamp annotation. */
function zonedRfc3339(ms: number, zone: string): string {
  if (zone === 'UTC') return rfc3339(ms);
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  const offset = String(parts.timeZoneName ?? 'GMT').replace('GMT', '') || '+00:00';
  const wall = new Date(ms + offsetMs(offset));
  return `${wall.toISOString().replace(/\.\d+Z$/, '')}${offset === '+00:00' ? 'Z' : offset}`;
}

function offsetMs(offset: string): number {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(offset);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000 : 0;
}
