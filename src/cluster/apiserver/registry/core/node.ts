/** Nodes: cluster-scoped, status written by their agents; kubectl's columns. */
import { parseCidr, subnetText } from '../../../../network/ipnet.js';
import { proxyToNode } from '../../nodeproxy.js';
import { ApiError, invalid, type KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import { ageColumn, nameColumn, status } from '../../tables.js';
import type { Strategy } from '../strategy.js';

const resource = resourceType('', 'v1', 'Node', 'nodes', false, {
  shortNames: ['no'],
  subresources: ['status', 'proxy'],
});

const podCidrs = (o: KObject): { podCIDR?: unknown; podCIDRs?: unknown } =>
  (o.spec ?? {}) as { podCIDR?: unknown; podCIDRs?: unknown };

/** An IPv4 CIDR written canonically (`10.42.1.0/24`), as node IPAM hands out and agents turn into networks. */
function cidrProblem(v: unknown): string | undefined {
  if (typeof v !== 'string') return 'must be a CIDR';
  let c: ReturnType<typeof parseCidr>;
  try {
    c = parseCidr(v);
  } catch {
    return 'must be a valid CIDR';
  }
  return c.ip === c.base && subnetText(c) === v ? undefined : 'must be a network address (host bits zero)';
}

export const nodes: Strategy = {
  resource,
  validate(o) {
    const { podCIDR, podCIDRs } = podCidrs(o);
    const problems: Array<{ field: string; message: string; value?: unknown }> = [];
    if (podCIDR !== undefined && podCIDR !== '') {
      const p = cidrProblem(podCIDR);
      if (p) problems.push({ field: 'spec.podCIDR', value: podCIDR, message: p });
    }
    if (podCIDRs !== undefined) {
      if (!Array.isArray(podCIDRs)) problems.push({ field: 'spec.podCIDRs', message: 'must be a list' });
      else
        podCIDRs.forEach((c, i) => {
          const p = cidrProblem(c);
          if (p) problems.push({ field: `spec.podCIDRs[${i}]`, value: c, message: p });
        });
      if (Array.isArray(podCIDRs) && podCIDR && podCIDRs[0] !== podCIDR)
        problems.push({ field: 'spec.podCIDRs', value: podCIDRs, message: 'the first must match spec.podCIDR' });
    }
    if (problems.length) throw invalid(resource, o.metadata?.name ?? '', problems);
  },
  validateUpdate(cur, next) {
    // As Kubernetes: a node's pod range is set once and never changed.
    const was = podCidrs(cur);
    const now = podCidrs(next);
    for (const f of ['podCIDR', 'podCIDRs'] as const)
      if (was[f] !== undefined && was[f] !== '' && JSON.stringify(was[f]) !== JSON.stringify(now[f]))
        throw invalid(resource, cur.metadata?.name ?? '', [
          {
            field: `spec.${f}`,
            value: now[f] ?? null,
            message: 'node updates may not change podCIDR except from "" to valid',
          },
        ]);
  },
  subresources: {
    proxy: {
      kind: 'NodeProxyOptions',
      verbs: ['get'],
      async handle(ctx, r) {
        if (r.method !== 'GET')
          throw new ApiError(405, 'MethodNotAllowed', 'the node proxy relays only GET requests to the node agent');
        await ctx.store.read(r.t);
        await proxyToNode(ctx, r.res, r.t.name!, r.t.subpath ?? '', r.query);
        return undefined;
      },
    },
  },
  columns: [
    nameColumn,
    {
      name: 'Status',
      type: 'string',
      cell: (o) => {
        const ready =
          ((status(o).conditions as Array<{ type: string; status: string }> | undefined) ?? []).find(
            (c) => c.type === 'Ready',
          )?.status === 'True'
            ? 'Ready'
            : 'NotReady';
        return (o.spec as { unschedulable?: boolean } | undefined)?.unschedulable
          ? `${ready},SchedulingDisabled`
          : ready;
      },
    },
    { name: 'Roles', type: 'string', cell: (o) => nodeRoles(o.metadata?.labels ?? {}) },
    ageColumn,
    {
      name: 'Version',
      type: 'string',
      cell: (o) => (status(o).nodeInfo as { kubeletVersion?: string } | undefined)?.kubeletVersion ?? '',
    },
  ],
};

/** kubectl's ROLES: `node-role.kubernetes.io/<role>` labels and `kubernetes.io/role`, sorted. */
function nodeRoles(labels: Record<string, string>): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(labels)) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length)
      roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}
