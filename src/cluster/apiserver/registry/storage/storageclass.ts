/**
 * StorageClasses, as Kubernetes' `pkg/registry/storage/storageclass`: defaults (Delete, Immediate), the
 * validation users meet, the fields fixed after creation, and kubectl's columns with `(default)` after
 * the default class's name.
 */
import type { FieldProblem } from '../../../api/validation.js';
import { isDnsSubdomain } from '../../../api/validation.js';
import { invalid, type KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import { ageColumn } from '../../tables.js';
import { refuse } from '../../validation.js';
import { DEFAULT_CLASS_ANNOTATION } from '../../../api/volume.js';
import { same } from '../podtemplate.js';
import type { Strategy } from '../strategy.js';

const scResource = resourceType('storage.k8s.io', 'v1', 'StorageClass', 'storageclasses', false, {
  shortNames: ['sc'],
});

export const isDefaultClass = (sc: KObject): boolean => sc.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true';

function storageClassProblems(o: KObject): FieldProblem[] {
  const out: FieldProblem[] = [];
  const provisioner = o.provisioner;
  if (typeof provisioner !== 'string' || provisioner === '')
    out.push({ field: 'provisioner', message: 'Required value' });
  else if (provisioner.length > 63 || !isDnsSubdomain(provisioner.toLowerCase().replace(/\//g, '.')))
    out.push({
      field: 'provisioner',
      value: provisioner,
      message: "name must be a valid DNS subdomain (with '/' allowed) of at most 63 characters",
    });
  if (!['Delete', 'Retain'].includes(String(o.reclaimPolicy)))
    out.push({
      field: 'reclaimPolicy',
      message: `Unsupported value: ${JSON.stringify(o.reclaimPolicy)}: supported values: "Delete", "Retain"`,
    });
  if (!['Immediate', 'WaitForFirstConsumer'].includes(String(o.volumeBindingMode)))
    out.push({
      field: 'volumeBindingMode',
      message: `Unsupported value: ${JSON.stringify(o.volumeBindingMode)}: supported values: "Immediate", "WaitForFirstConsumer"`,
    });
  for (const [k, v] of Object.entries((o.parameters as Record<string, unknown> | undefined) ?? {}))
    if (typeof v !== 'string') out.push({ field: `parameters[${k}]`, value: v, message: 'must be a string' });
  return out;
}

export const storageClasses: Strategy = {
  resource: scResource,
  defaults(o) {
    o.reclaimPolicy ??= 'Delete';
    o.volumeBindingMode ??= 'Immediate';
  },
  validate(o) {
    refuse(scResource, o, storageClassProblems(o));
  },
  validateUpdate(cur, next) {
    for (const field of ['parameters', 'provisioner', 'reclaimPolicy', 'volumeBindingMode'])
      if (!same(cur[field], next[field]))
        throw invalid(scResource, cur.metadata?.name ?? '', [
          { field, message: `Forbidden: updates to ${field} are forbidden.` },
        ]);
  },
  columns: [
    {
      name: 'Name',
      type: 'string',
      format: 'name',
      cell: (o) => `${o.metadata?.name ?? ''}${isDefaultClass(o) ? ' (default)' : ''}`,
    },
    { name: 'Provisioner', type: 'string', cell: (o) => o.provisioner ?? '' },
    { name: 'ReclaimPolicy', type: 'string', cell: (o) => o.reclaimPolicy ?? '' },
    { name: 'VolumeBindingMode', type: 'string', cell: (o) => o.volumeBindingMode ?? '' },
    { name: 'AllowVolumeExpansion', type: 'boolean', cell: (o) => o.allowVolumeExpansion === true },
    ageColumn,
  ],
};
