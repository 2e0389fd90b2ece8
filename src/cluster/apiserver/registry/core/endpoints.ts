/** Endpoints: addresses and ports checked before node agents turn them into rules. */
import { resourceType } from '../../resources.js';
import { ageColumn, nameColumn } from '../../tables.js';
import { endpointsProblems, refuse } from '../../validation.js';
import type { Strategy } from '../strategy.js';

const resource = resourceType('', 'v1', 'Endpoints', 'endpoints', true, { shortNames: ['ep'] });

export const endpoints: Strategy = {
  resource,
  validate: (o) => refuse(resource, o, endpointsProblems(o)),
  columns: [
    nameColumn,
    {
      name: 'Endpoints',
      type: 'string',
      cell: (o) =>
        ((o.subsets as Array<{ addresses?: Array<{ ip: string }>; ports?: Array<{ port: number }> }> | undefined) ?? [])
          .flatMap((s) => (s.addresses ?? []).flatMap((a) => (s.ports ?? []).map((p) => `${a.ip}:${p.port}`)))
          .join(',') || '<none>',
    },
    ageColumn,
  ],
};
