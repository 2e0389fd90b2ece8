/**
 * APIServices (`apiregistration.k8s.io/v1`), as kube-aggregator lists the groups the server itself
 * serves: one per group version — built-in, `metrics.k8s.io` (served here, as metrics-server's would
 * be) and those of CustomResourceDefinitions — each Local and Available. Computed on request, never
 * stored: tools that check an API is registered and available (`kubectl get apiservices`, Helm charts,
 * operators waiting for `v1beta1.metrics.k8s.io`) find it so.
 */
import { ApiError, type KObject } from '../../objects.js';
import { groups, resourceType } from '../../resources.js';
import { ageColumn, nameColumn } from '../../tables.js';
// Read at request time only: index.ts imports this file.
import { RESOURCES } from '../index.js';
import type { RegistryContext, Strategy } from '../strategy.js';

const resource = {
  ...resourceType('apiregistration.k8s.io', 'v1', 'APIService', 'apiservices', false),
  readOnly: true,
};
/** When this server started: the APIServices it registers on start are this old. */
const STARTED = new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function apiServices(ctx: RegistryContext): KObject[] {
  const custom = new Set(ctx.crds.resources().map((r) => r.group));
  const core = { name: '', versions: ['v1'] };
  return [core, ...groups([...RESOURCES, ...ctx.crds.resources()])].flatMap((g) =>
    g.versions.map((version, i) => ({
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: {
        name: g.name ? `${version}.${g.name}` : version,
        creationTimestamp: STARTED,
        labels: { 'kube-aggregator.kubernetes.io/automanaged': custom.has(g.name) ? 'true' : 'onstart' },
      },
      spec: {
        ...(g.name ? { group: g.name } : {}),
        version,
        groupPriorityMinimum: custom.has(g.name) ? 1000 : g.name ? 17000 : 18000,
        versionPriority: 15 - i,
      },
      status: {
        conditions: [
          {
            type: 'Available',
            status: 'True',
            lastTransitionTime: STARTED,
            reason: 'Local',
            message: 'Local APIServices are always available',
          },
        ],
      },
    })),
  );
}

export const apiServicesStrategy: Strategy = {
  resource,
  columns: [
    nameColumn,
    { name: 'Service', type: 'string', cell: () => 'Local' },
    { name: 'Available', type: 'string', cell: () => 'True' },
    ageColumn,
  ],
  computed: {
    get(ctx, t) {
      const found = apiServices(ctx).find((s) => s.metadata?.name === t.name);
      if (!found)
        return Promise.reject(
          new ApiError(404, 'NotFound', `apiservices.apiregistration.k8s.io "${t.name}" not found`, {
            name: t.name,
            group: 'apiregistration.k8s.io',
            kind: 'apiservices',
          }),
        );
      return Promise.resolve(found);
    },
    list: (ctx) => Promise.resolve(apiServices(ctx)),
  },
};
