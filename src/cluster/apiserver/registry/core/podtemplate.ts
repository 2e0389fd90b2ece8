/** PodTemplates: the template's pod spec is checked like a pod's. */
import { resourceType } from '../../resources.js';
import { obj, podSpecProblems, refuse } from '../../validation.js';
import type { Strategy } from '../strategy.js';

const resource = resourceType('', 'v1', 'PodTemplate', 'podtemplates', true);

export const podTemplates: Strategy = {
  resource,
  validate: (o) => refuse(resource, o, podSpecProblems('template.spec', obj(obj(o.template)?.spec))),
};
