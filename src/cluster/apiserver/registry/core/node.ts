/** Nodes: cluster-scoped, status written by their agents; kubectl's columns. */
import { resourceType } from '../../resources.js';
import { ageColumn, nameColumn, status } from '../../tables.js';
import type { Strategy } from '../strategy.js';

export const nodes: Strategy = {
  resource: resourceType('', 'v1', 'Node', 'nodes', false, { shortNames: ['no'], subresources: ['status'] }),
  columns: [
    nameColumn,
    {
      name: 'Status',
      type: 'string',
      cell: (o) =>
        ((status(o).conditions as Array<{ type: string; status: string }> | undefined) ?? []).find(
          (c) => c.type === 'Ready',
        )?.status === 'True'
          ? 'Ready'
          : 'NotReady',
    },
    { name: 'Roles', type: 'string', cell: () => '<none>' },
    ageColumn,
    {
      name: 'Version',
      type: 'string',
      cell: (o) => (status(o).nodeInfo as { kubeletVersion?: string } | undefined)?.kubeletVersion ?? '',
    },
  ],
};
