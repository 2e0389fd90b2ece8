/** PodDisruptionBudgets: status written by the disruption controller; kubectl's columns. */
import { resourceType } from '../../resources.js';
import { ageColumn, nameColumn } from '../../tables.js';
import type { Strategy } from '../strategy.js';

const orNA = (v: unknown): string => (v === undefined || v === null ? 'N/A' : String(v));

export const podDisruptionBudgets: Strategy = {
  resource: resourceType('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true, {
    shortNames: ['pdb'],
    subresources: ['status'],
  }),
  generation: true,
  columns: [
    nameColumn,
    { name: 'Min Available', type: 'string', cell: (o) => orNA((o.spec as { minAvailable?: unknown })?.minAvailable) },
    {
      name: 'Max Unavailable',
      type: 'string',
      cell: (o) => orNA((o.spec as { maxUnavailable?: unknown })?.maxUnavailable),
    },
    {
      name: 'Allowed Disruptions',
      type: 'integer',
      cell: (o) => (o.status as { disruptionsAllowed?: number } | undefined)?.disruptionsAllowed ?? 0,
    },
    ageColumn,
  ],
};
