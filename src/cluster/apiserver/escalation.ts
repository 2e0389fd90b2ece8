/**
 * RBAC's escalation checks, as Kubernetes makes them (pkg/registry/rbac/escalation_check.go and
 * validation.Covers): a user may create or update a Role or ClusterRole only with the permissions it
 * grants, or the `escalate` verb on it; a RoleBinding or ClusterRoleBinding only when it holds every
 * permission of the role it binds (in the binding's namespace), or the `bind` verb on that role. So an
 * account that may only write rolebindings cannot bind itself to cluster-admin.
 */
import type { UserInfo } from './auth.js';
import { ApiError, type KObject } from './objects.js';
import type { Authorizer, PolicyRule } from './rbac.js';
import type { ResourceType } from './resources.js';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

const has = (list: string[] | undefined, v: string): boolean => !!list && (list.includes('*') || list.includes(v));

function resourceCovered(owner: string[] | undefined, resource: string): boolean {
  if (has(owner, resource)) return true;
  const slash = resource.indexOf('/');
  return slash > 0 && !!owner?.includes(`*${resource.slice(slash)}`);
}

function urlCovered(owner: string[] | undefined, url: string): boolean {
  return (owner ?? []).some((u) => u === '*' || u === url || (u.endsWith('*') && url.startsWith(u.slice(0, -1))));
}

/** One servant permission broken down to a single verb, group, resource and name (or URL). */
interface Atom {
  verb: string;
  group?: string;
  resource?: string;
  name?: string;
  url?: string;
}

function atoms(rule: PolicyRule): Atom[] {
  const out: Atom[] = [];
  for (const verb of rule.verbs ?? []) {
    for (const url of rule.nonResourceURLs ?? []) out.push({ verb, url });
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        if (rule.resourceNames?.length)
          for (const name of rule.resourceNames) out.push({ verb, group, resource, name });
        else out.push({ verb, group, resource });
      }
    }
  }
  return out;
}

function covers(owner: PolicyRule, a: Atom): boolean {
  if (!has(owner.verbs, a.verb)) return false;
  if (a.url !== undefined) return urlCovered(owner.nonResourceURLs, a.url);
  if (!has(owner.apiGroups, a.group!) || !resourceCovered(owner.resources, a.resource!)) return false;
  return !owner.resourceNames?.length || (a.name !== undefined && owner.resourceNames.includes(a.name));
}

/** The permissions of `servant` that no rule of `owner` grants, each as Kubernetes prints it. */
export function uncovered(owner: PolicyRule[], servant: PolicyRule[]): string[] {
  const missing: string[] = [];
  const q = (xs: string[]): string => `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;
  for (const a of servant.flatMap(atoms)) {
    if (owner.some((o) => covers(o, a))) continue;
    missing.push(
      a.url !== undefined
        ? `{NonResourceURLs:${q([a.url])}, Verbs:${q([a.verb])}}`
        : `{APIGroups:${q([a.group!])}, Resources:${q([a.resource!])}${a.name !== undefined ? `, ResourceNames:${q([a.name])}` : ''}, Verbs:${q([a.verb])}}`,
    );
  }
  return [...new Set(missing)];
}

function forbidden(r: ResourceType, name: string, message: string): ApiError {
  return new ApiError(403, 'Forbidden', `${r.plural}.${RBAC_GROUP} "${name}" is forbidden: ${message}`, {
    name,
    group: RBAC_GROUP,
    kind: r.plural,
  });
}

/**
 * Refuse a Role, ClusterRole, RoleBinding or ClusterRoleBinding that would give `user` (or anyone it
 * binds) permissions `user` does not hold, unless it may `escalate` (roles) or `bind` (bindings).
 */
export function checkEscalation(authz: Authorizer, user: UserInfo | undefined, r: ResourceType, obj: KObject): void {
  if (r.group !== RBAC_GROUP || !user || user.groups.includes('system:masters')) return;
  const name = obj.metadata?.name ?? '';
  const namespace = r.namespaced ? obj.metadata?.namespace : undefined;
  const held = (): PolicyRule[] => authz.rulesFor(user, namespace);
  const notHeld = (missing: string[]): ApiError =>
    forbidden(
      r,
      name,
      `user "${user.username}" (groups=[${user.groups.map((g) => JSON.stringify(g)).join(' ')}]) is attempting to grant RBAC permissions not currently held:\n${missing.join('\n')}`,
    );

  if (r.plural === 'roles' || r.plural === 'clusterroles') {
    if (
      authz.allowed(user, {
        verb: 'escalate',
        resourceRequest: true,
        apiGroup: RBAC_GROUP,
        resource: r.plural,
        name,
        namespace,
      })
    )
      return;
    const missing = uncovered(held(), (obj.rules as PolicyRule[] | undefined) ?? []);
    if (missing.length) throw notHeld(missing);
    return;
  }
  if (r.plural !== 'rolebindings' && r.plural !== 'clusterrolebindings') return;
  const ref = (obj.roleRef ?? {}) as { kind?: string; name?: string };
  const roleResource = ref.kind === 'Role' ? 'roles' : 'clusterroles';
  if (
    authz.allowed(user, {
      verb: 'bind',
      resourceRequest: true,
      apiGroup: RBAC_GROUP,
      resource: roleResource,
      name: ref.name,
      namespace,
    })
  )
    return;
  const rules = authz.roleRules(ref.kind ?? '', ref.name ?? '', namespace);
  if (!rules)
    throw forbidden(
      r,
      name,
      `${ref.kind === 'Role' ? 'role' : 'clusterrole'}.${RBAC_GROUP} "${ref.name ?? ''}" not found`,
    );
  const missing = uncovered(held(), rules);
  if (missing.length) throw notHeld(missing);
}
