/**
 * RBAC's four kinds: names only need to be path segments (`system:basic-user`), writes pass the
 * escalation check (one may only grant what one holds, or has `escalate`/`bind` for), a binding's
 * roleRef is fixed, and every stored change reaches the authorizer at once.
 */
import { checkEscalation } from '../../escalation.js';
import { invalid } from '../../objects.js';
import { resourceType, type ResourceType } from '../../resources.js';
import { same } from '../podtemplate.js';
import type { Strategy } from '../strategy.js';

const GROUP = 'rbac.authorization.k8s.io';

function rbac(r: ResourceType, binding: boolean): Strategy {
  return {
    resource: r,
    validate: (o, ctx) => checkEscalation(ctx.authz, ctx.user, r, o),
    validateUpdate(cur, next) {
      if (binding && !same(cur.roleRef, next.roleRef))
        throw invalid(r, cur.metadata?.name ?? '', [
          { field: 'roleRef', value: next.roleRef, message: 'cannot change roleRef' },
        ]);
    },
    observe: (ctx, key, value) => ctx.authz.observe(key, value),
  };
}

export const roles = rbac(resourceType(GROUP, 'v1', 'Role', 'roles', true), false);
export const roleBindings = rbac(resourceType(GROUP, 'v1', 'RoleBinding', 'rolebindings', true), true);
export const clusterRoles = rbac(resourceType(GROUP, 'v1', 'ClusterRole', 'clusterroles', false), false);
export const clusterRoleBindings = rbac(
  resourceType(GROUP, 'v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
  true,
);
