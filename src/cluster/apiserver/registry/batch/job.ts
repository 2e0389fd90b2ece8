/** Jobs and CronJobs: defaults, the pod template checked, a Job's selector and template fixed. */
import { invalid } from '../../objects.js';
import { resourceType } from '../../resources.js';
import { obj, podSpecProblems, refuse } from '../../validation.js';
import { defaultTemplate, same, validateTemplate } from '../podtemplate.js';
import type { Strategy } from '../strategy.js';

const jobResource = resourceType('batch', 'v1', 'Job', 'jobs', true, { all: true, subresources: ['status'] });

export const jobs: Strategy = {
  resource: jobResource,
  generation: true,
  defaults(o) {
    const s = o.spec as Record<string, unknown>;
    s.backoffLimit ??= 6;
    s.completions ??= 1;
    s.parallelism ??= 1;
    defaultTemplate(s);
  },
  validate: (o) => validateTemplate(jobResource, o),
  validateUpdate(cur, next) {
    const was = (cur.spec ?? {}) as Record<string, unknown>;
    const now = (next.spec ?? {}) as Record<string, unknown>;
    const immutable = (field: string, value: unknown): never => {
      throw invalid(jobResource, cur.metadata?.name ?? '', [
        { field, value: value ?? null, message: 'field is immutable' },
      ]);
    };
    if (was.selector && !same(was.selector, now.selector)) immutable('spec.selector', now.selector);
    if (!same(was.template, now.template)) immutable('spec.template', now.template);
  },
};

const cronJobResource = resourceType('batch', 'v1', 'CronJob', 'cronjobs', true, {
  shortNames: ['cj'],
  all: true,
  subresources: ['status'],
});

export const cronJobs: Strategy = {
  resource: cronJobResource,
  generation: true,
  validate: (o) =>
    refuse(
      cronJobResource,
      o,
      podSpecProblems(
        'spec.jobTemplate.spec.template.spec',
        obj(obj(obj(obj(obj(o.spec)?.jobTemplate)?.spec)?.template)?.spec),
      ),
    ),
};
