/**
 * Jobs and CronJobs, as Kubernetes' `pkg/registry/batch`: defaults; a Job's selector made from its own
 * UID unless `manualSelector` (and the labels put on its template, so its pods carry them); the rules
 * of `pkg/apis/batch/validation` that users meet (restart policy, counts, Indexed completions, the pod
 * failure policy, cron syntax and time zone); the fields fixed after creation; kubectl's columns.
 */
import { isValidTimeZone, parseCron } from '../../../api/cron.js';
import { labelSelectorMatches, type LabelSelector } from '../../../api/selector.js';
import type { FieldProblem } from '../../../api/validation.js';
import { invalid, type KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import { age } from '../../../api/age.js';
import { ageColumn, nameColumn, num, spec, status, templateWide, type Column } from '../../tables.js';
import { obj, podSpecProblems, refuse } from '../../validation.js';
import {
  defaultPodSpec,
  defaultTemplate,
  nonNegative,
  restartPolicyProblems,
  same,
  selectorProblems,
  validateTemplate,
} from '../podtemplate.js';
import { parseIndexes } from '../../../api/jobindexes.js';
import type { Strategy } from '../strategy.js';

const jobResource = resourceType('batch', 'v1', 'Job', 'jobs', true, { all: true, subresources: ['status'] });

type Obj = Record<string, unknown>;

function defaultJobSpec(s: Obj): void {
  if (s.completions === undefined && s.parallelism === undefined) s.completions = 1;
  s.parallelism ??= 1;
  // With per-index limits the Job-wide one is off unless given, as Kubernetes defaults it.
  s.backoffLimit ??= s.backoffLimitPerIndex !== undefined && s.backoffLimitPerIndex !== null ? 2147483647 : 6;
  s.completionMode ??= 'NonIndexed';
  s.suspend ??= false;
  // A pod failure policy reads the exit of a pod that has finished: its Jobs replace failed pods only.
  s.podReplacementPolicy ??= s.podFailurePolicy ? 'Failed' : 'TerminatingOrFailed';
  defaultTemplate(s);
}

/** Kubernetes' validateSuccessPolicy: Indexed Jobs only, 1 to 20 rules, each naming indexes or a count that can be met. */
function successPolicyProblems(s: Obj): FieldProblem[] {
  const policy = obj(s.successPolicy);
  if (!policy) return [];
  if (s.completionMode !== 'Indexed')
    return [{ field: 'spec.successPolicy', value: policy, message: 'requires indexed completion mode' }];
  const out: FieldProblem[] = [];
  const rules = Array.isArray(policy.rules) ? (policy.rules as unknown[]) : [];
  if (!rules.length)
    out.push({
      field: 'spec.successPolicy.rules',
      message: 'Required value: at least one rules must be specified when the successPolicy is specified',
    });
  if (rules.length > 20)
    out.push({ field: 'spec.successPolicy.rules', message: `Too many: ${rules.length}: must have at most 20 items` });
  const completions = Number(s.completions ?? 0);
  rules.forEach((raw, i) => {
    const rule = obj(raw) ?? {};
    const at = `spec.successPolicy.rules[${i}]`;
    if (rule.succeededCount === undefined && rule.succeededIndexes === undefined)
      out.push({
        field: at,
        message: 'Required value: at least one of succeededCount or succeededIndexes must be specified',
      });
    let total = 0;
    if (rule.succeededIndexes !== undefined) {
      const parsed = parseIndexes(String(rule.succeededIndexes), completions);
      if (typeof parsed === 'string')
        out.push({
          field: `${at}.succeededIndexes`,
          value: rule.succeededIndexes,
          message: `error parsing succeededIndexes: ${parsed}`,
        });
      else total = parsed.size;
    }
    const count = rule.succeededCount;
    if (count !== undefined) {
      if (!(Number.isInteger(count) && Number(count) >= 0))
        out.push({ field: `${at}.succeededCount`, value: count, message: 'must be greater than or equal to 0' });
      else if (Number(count) > completions)
        out.push({
          field: `${at}.succeededCount`,
          value: count,
          message: `must be less than or equal to ${completions} (the number of specified completions)`,
        });
      else if (rule.succeededIndexes !== undefined && Number(count) > total)
        out.push({
          field: `${at}.succeededCount`,
          value: count,
          message: `must be less than or equal to ${total} (the number of indexes in the specified succeededIndexes field)`,
        });
    }
  });
  return out;
}

/** Kubernetes' rules for `backoffLimitPerIndex` and `maxFailedIndexes`: Indexed Jobs, the second needing the first. */
function perIndexProblems(s: Obj): FieldProblem[] {
  const given = (v: unknown): boolean => v !== undefined && v !== null;
  const out: FieldProblem[] = [];
  if (given(s.maxFailedIndexes) && !given(s.backoffLimitPerIndex))
    out.push({ field: 'spec.backoffLimitPerIndex', message: 'Required value: when maxFailedIndexes is specified' });
  for (const field of ['backoffLimitPerIndex', 'maxFailedIndexes'])
    if (given(s[field]) && s.completionMode !== 'Indexed')
      out.push({ field: `spec.${field}`, value: s[field], message: 'requires indexed completion mode' });
  if (s.completionMode === 'Indexed' && given(s.maxFailedIndexes)) {
    if (Number(s.maxFailedIndexes) > 100_000)
      out.push({
        field: 'spec.maxFailedIndexes',
        value: s.maxFailedIndexes,
        message: 'must be less than or equal to 100000',
      });
    else if (Number(s.maxFailedIndexes) > Number(s.completions ?? 0))
      out.push({
        field: 'spec.maxFailedIndexes',
        value: s.maxFailedIndexes,
        message: 'must be less than or equal to completions',
      });
  }
  return out;
}

/** The problems of a Job spec at `prefix` (`spec` of a Job, `spec.jobTemplate.spec` of a CronJob). */
function jobSpecProblems(s: Obj, prefix: string): FieldProblem[] {
  const at = (p: FieldProblem): FieldProblem => ({ ...p, field: p.field.replace(/^spec\./, `${prefix}.`) });
  const out: FieldProblem[] = [
    ...nonNegative(
      s,
      'parallelism',
      'completions',
      'backoffLimit',
      'ttlSecondsAfterFinished',
      'backoffLimitPerIndex',
      'maxFailedIndexes',
    ),
    ...perIndexProblems(s),
    ...restartPolicyProblems(s, ['OnFailure', 'Never']),
  ];
  if (
    s.activeDeadlineSeconds !== undefined &&
    !(Number.isInteger(s.activeDeadlineSeconds) && Number(s.activeDeadlineSeconds) > 0)
  )
    out.push({
      field: 'spec.activeDeadlineSeconds',
      value: s.activeDeadlineSeconds,
      message: 'must be greater than 0',
    });
  if (!['NonIndexed', 'Indexed'].includes(String(s.completionMode)))
    out.push({
      field: 'spec.completionMode',
      message: `Unsupported value: ${JSON.stringify(s.completionMode)}: supported values: "NonIndexed", "Indexed"`,
    });
  if (s.completionMode === 'Indexed' && (s.completions === undefined || s.completions === null))
    out.push({ field: 'spec.completions', message: 'Required value: when completion mode is Indexed' });
  // Kubernetes' bounds for Indexed Jobs, whose indexes the controller tracks one by one.
  for (const field of ['completions', 'parallelism'])
    if (s.completionMode === 'Indexed' && Number(s[field]) > 100_000)
      out.push({
        field: `spec.${field}`,
        value: s[field],
        message: 'must be less than or equal to 100000 when completion mode is Indexed',
      });
  out.push(...successPolicyProblems(s));
  const policy = obj(s.podFailurePolicy);
  const replacement = s.podReplacementPolicy;
  const replacements = policy ? ['Failed'] : ['Failed', 'TerminatingOrFailed'];
  if (replacement !== undefined && !replacements.includes(String(replacement)))
    out.push({
      field: 'spec.podReplacementPolicy',
      message: `Unsupported value: ${JSON.stringify(replacement)}: supported values: ${replacements.map((v) => `"${v}"`).join(', ')}`,
    });
  const restart = obj(obj(s.template)?.spec)?.restartPolicy;
  if (policy && restart !== 'Never')
    out.push({
      field: 'spec.template.spec.restartPolicy',
      value: restart,
      message: 'only "Never" is supported when podFailurePolicy is specified',
    });
  (Array.isArray(policy?.rules) ? (policy.rules as unknown[]) : []).forEach((raw, i) => {
    const rule = obj(raw) ?? {};
    const f = `spec.podFailurePolicy.rules[${i}]`;
    if (rule.action === 'FailIndex' && (s.backoffLimitPerIndex === undefined || s.backoffLimitPerIndex === null))
      out.push({ field: `${f}.action`, value: 'FailIndex', message: 'requires the backoffLimitPerIndex to be set' });
    if (!['FailJob', 'Ignore', 'Count', 'FailIndex'].includes(String(rule.action)))
      out.push({
        field: `${f}.action`,
        message: `Unsupported value: ${JSON.stringify(rule.action)}: supported values: "Count", "FailIndex", "FailJob", "Ignore"`,
      });
    const codes = obj(rule.onExitCodes);
    if (!!codes === !!rule.onPodConditions)
      out.push({ field: f, message: 'Invalid value: specifying one of OnExitCodes and OnPodConditions is required' });
    if (codes && !['In', 'NotIn'].includes(String(codes.operator)))
      out.push({
        field: `${f}.onExitCodes.operator`,
        message: `Unsupported value: ${JSON.stringify(codes.operator)}: supported values: "In", "NotIn"`,
      });
    if (codes && codes.operator === 'In' && Array.isArray(codes.values) && codes.values.includes(0))
      out.push({
        field: `${f}.onExitCodes.values[${codes.values.indexOf(0)}]`,
        value: 0,
        message: 'must not be 0 for the In operator',
      });
  });
  return out.map(at);
}

export const jobs: Strategy = {
  resource: jobResource,
  generation: true,
  defaults(o) {
    defaultJobSpec(o.spec as Obj);
    o.status ??= {};
  },
  prepareCreate(o) {
    const s = o.spec as Obj;
    if (s.manualSelector === true) return;
    const uid = o.metadata!.uid!;
    const name = o.metadata!.name!;
    const labels = {
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': name,
      'controller-uid': uid,
      'job-name': name,
    };
    s.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
    const template = (s.template ??= {}) as KObject;
    template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, ...labels } };
  },
  validate(o) {
    validateTemplate(jobResource, o);
    const s = obj(o.spec) ?? {};
    const problems = jobSpecProblems(s, 'spec');
    // A generated selector is checked once it is made (prepareCreate runs after this on create).
    if (s.selector !== undefined || s.manualSelector === true)
      problems.push(...selectorProblems(s, (sel, labels) => labelSelectorMatches(sel as LabelSelector, labels)));
    refuse(jobResource, o, problems);
  },
  validateUpdate(cur, next) {
    const was = (cur.spec ?? {}) as Obj;
    const now = (next.spec ?? {}) as Obj;
    const immutable = (field: string, value: unknown): never => {
      throw invalid(jobResource, cur.metadata?.name ?? '', [
        { field, value: value ?? null, message: 'field is immutable' },
      ]);
    };
    if (was.selector && !same(was.selector, now.selector)) immutable('spec.selector', now.selector);
    if (!same(was.template, now.template)) immutable('spec.template', now.template);
    if (!same(was.completions, now.completions)) immutable('spec.completions', now.completions);
    if (!same(was.completionMode, now.completionMode)) immutable('spec.completionMode', now.completionMode);
    if (!same(was.podFailurePolicy, now.podFailurePolicy)) immutable('spec.podFailurePolicy', now.podFailurePolicy);
    if (!same(was.successPolicy, now.successPolicy)) immutable('spec.successPolicy', now.successPolicy);
    if (!same(was.backoffLimitPerIndex, now.backoffLimitPerIndex))
      immutable('spec.backoffLimitPerIndex', now.backoffLimitPerIndex);
  },
  columns: jobColumns(),
};

type Condition = { type?: string; status?: string };

/** kubectl's STATUS of a Job: what its conditions say, Running otherwise. */
function jobState(o: KObject): string {
  const conditions = (status(o).conditions as Condition[] | undefined) ?? [];
  const on = (type: string): boolean => conditions.some((c) => c.type === type && c.status === 'True');
  if (on('Complete')) return 'Complete';
  if (on('Failed')) return 'Failed';
  if (on('Suspended')) return 'Suspended';
  if (on('FailureTarget')) return 'FailureTarget';
  if (on('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

/** `1h2m`, `45s`: how kubectl prints a duration (`duration.HumanDuration`). */
function duration(ms: number): string {
  return age(new Date(Date.now() - ms).toISOString());
}

function jobColumns(): Column[] {
  return [
    nameColumn,
    { name: 'Status', type: 'string', cell: jobState },
    {
      name: 'Completions',
      type: 'string',
      cell: (o) => {
        const s = spec(o);
        const done = num(status(o).succeeded);
        return typeof s.completions === 'number' ? `${done}/${s.completions}` : `${done}/1 of ${num(s.parallelism)}`;
      },
    },
    {
      name: 'Duration',
      type: 'string',
      cell: (o) => {
        const start = Date.parse(String(status(o).startTime ?? ''));
        if (!Number.isFinite(start)) return '';
        const end = Date.parse(String(status(o).completionTime ?? ''));
        return duration((Number.isFinite(end) ? end : Date.now()) - start);
      },
    },
    ageColumn,
    ...templateWide,
  ];
}

const cronJobResource = resourceType('batch', 'v1', 'CronJob', 'cronjobs', true, {
  shortNames: ['cj'],
  all: true,
  subresources: ['status'],
});

function cronJobProblems(o: KObject): FieldProblem[] {
  const s = obj(o.spec) ?? {};
  const out: FieldProblem[] = [];
  if (typeof s.schedule !== 'string' || !s.schedule) out.push({ field: 'spec.schedule', message: 'Required value' });
  else {
    try {
      parseCron(s.schedule);
    } catch (err) {
      out.push({ field: 'spec.schedule', value: s.schedule, message: (err as Error).message });
    }
  }
  if (
    s.timeZone !== undefined &&
    s.timeZone !== null &&
    (typeof s.timeZone !== 'string' || !isValidTimeZone(s.timeZone))
  )
    out.push({ field: 'spec.timeZone', value: s.timeZone, message: 'unknown time zone ' + String(s.timeZone) });
  if (!['Allow', 'Forbid', 'Replace'].includes(String(s.concurrencyPolicy)))
    out.push({
      field: 'spec.concurrencyPolicy',
      message: `Unsupported value: ${JSON.stringify(s.concurrencyPolicy)}: supported values: "Allow", "Forbid", "Replace"`,
    });
  out.push(...nonNegative(s, 'startingDeadlineSeconds', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit'));
  const jobSpec = obj(obj(s.jobTemplate)?.spec) ?? {};
  out.push(...podSpecProblems('spec.jobTemplate.spec.template.spec', obj(obj(jobSpec.template)?.spec)));
  out.push(...jobSpecProblems(jobSpec, 'spec.jobTemplate.spec'));
  return out;
}

export const cronJobs: Strategy = {
  resource: cronJobResource,
  generation: true,
  defaults(o) {
    const s = o.spec as Obj;
    s.concurrencyPolicy ??= 'Allow';
    s.suspend ??= false;
    s.successfulJobsHistoryLimit ??= 3;
    s.failedJobsHistoryLimit ??= 1;
    const jobTemplate = (s.jobTemplate ??= {}) as Obj;
    const jobSpec = (jobTemplate.spec ??= {}) as Obj;
    defaultJobSpec(jobSpec);
    const podSpec = obj(obj(jobSpec.template)?.spec);
    if (podSpec) defaultPodSpec(podSpec);
    o.status ??= {};
  },
  validate: (o) => refuse(cronJobResource, o, cronJobProblems(o)),
  columns: [
    nameColumn,
    { name: 'Schedule', type: 'string', cell: (o) => String(spec(o).schedule ?? '') },
    { name: 'Timezone', type: 'string', cell: (o) => String(spec(o).timeZone ?? '<none>') },
    { name: 'Suspend', type: 'boolean', cell: (o) => spec(o).suspend === true },
    { name: 'Active', type: 'integer', cell: (o) => ((status(o).active as unknown[] | undefined) ?? []).length },
    {
      name: 'Last Schedule',
      type: 'string',
      cell: (o) => (status(o).lastScheduleTime ? age(String(status(o).lastScheduleTime)) : '<none>'),
    },
    ageColumn,
    {
      name: 'Containers',
      type: 'string',
      priority: 1,
      cell: (o) =>
        cronContainers(o)
          .map((c) => c.name)
          .join(','),
    },
    {
      name: 'Images',
      type: 'string',
      priority: 1,
      cell: (o) =>
        cronContainers(o)
          .map((c) => c.image)
          .join(','),
    },
    { name: 'Selector', type: 'string', priority: 1, cell: () => '<none>' },
  ],
};

const cronContainers = (o: KObject): Array<{ name?: string; image?: string }> =>
  (obj(obj(obj(obj(spec(o).jobTemplate)?.spec)?.template)?.spec)?.containers as
    Array<{ name?: string; image?: string }> | undefined) ?? [];
