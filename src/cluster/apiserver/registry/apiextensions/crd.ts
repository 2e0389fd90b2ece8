/**
 * CustomResourceDefinitions: checked, given their status, handed to the set of served custom kinds at
 * once, and when one goes its objects go with it (never a built-in group's, whatever a stored CRD says).
 */
import { crdStatus, servableGroup, validateCrd } from '../../crds.js';
import { resourceType } from '../../resources.js';
import type { Strategy } from '../strategy.js';

const resource = resourceType(
  'apiextensions.k8s.io',
  'v1',
  'CustomResourceDefinition',
  'customresourcedefinitions',
  false,
  {
    shortNames: ['crd', 'crds'],
    subresources: ['status'],
  },
);

export const customResourceDefinitions: Strategy = {
  resource,
  generation: true,
  prepareCreate(o) {
    validateCrd(resource, o);
    o.status = crdStatus(o);
  },
  async observe(ctx, key, value, obj) {
    ctx.crds.observe(key, value);
    if (value) return;
    const spec = (obj.spec ?? {}) as { group?: string; names?: { plural?: string } };
    if (servableGroup(spec.group) && spec.names?.plural && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(spec.names.plural)) {
      const prefix = `/registry/${spec.group}/${spec.names.plural}/`;
      for (const item of (await ctx.storage.list(prefix)).kvs)
        await ctx.storage.delete(item.key).catch(() => undefined);
    }
  },
};
