/** Services: defaults, address and port validation, the allocator's clusterIP and nodePorts, kubectl's columns. */
import { resourceType } from '../../resources.js';
import { ageColumn, externalIp, nameColumn, selectorText, servicePorts, spec } from '../../tables.js';
import { refuse, serviceProblems } from '../../validation.js';
import type { Strategy } from '../strategy.js';

const resource = resourceType('', 'v1', 'Service', 'services', true, {
  shortNames: ['svc'],
  all: true,
  subresources: ['status'],
});

export const services: Strategy = {
  resource,
  generation: true,
  defaults(o) {
    const s = o.spec as Record<string, unknown>;
    s.type ??= 'ClusterIP';
    s.sessionAffinity ??= 'None';
    for (const p of (s.ports as Array<Record<string, unknown>> | undefined) ?? []) {
      p.protocol ??= 'TCP';
      p.targetPort ??= p.port;
    }
    o.status ??= { loadBalancer: {} };
  },
  validate: (o) => refuse(resource, o, serviceProblems(o)),
  prepareCreate: (o, ctx) => ctx.services.allocate(o, undefined),
  prepareUpdate: (cur, next, ctx) => ctx.services.allocate(next, cur),
  columns: [
    nameColumn,
    { name: 'Type', type: 'string', cell: (o) => spec(o).type ?? 'ClusterIP' },
    { name: 'Cluster-IP', type: 'string', cell: (o) => spec(o).clusterIP ?? '<none>' },
    { name: 'External-IP', type: 'string', cell: externalIp },
    { name: 'Port(s)', type: 'string', cell: servicePorts },
    ageColumn,
    { name: 'Selector', type: 'string', priority: 1, cell: selectorText },
  ],
};
