/**
 * The review kinds: answered at once and never stored — access checks (self, subject, local), the
 * rules a user holds, who-am-I, and token reviews.
 */
import { API_AUDIENCE, serviceAccountUser, type UserInfo } from '../../auth.js';
import { ApiError, notFound, type KObject } from '../../objects.js';
import type { RequestAttributes } from '../../rbac.js';
import { resourceType, type ResourceType } from '../../resources.js';
import type { RegistryContext, Strategy, Target } from '../strategy.js';

type Spec = Record<string, unknown>;

function access(
  ctx: RegistryContext,
  t: Target,
  spec: Spec,
  who: UserInfo,
  namespace?: string,
): Record<string, unknown> {
  const ra = spec.resourceAttributes as
    | { namespace?: string; verb?: string; group?: string; resource?: string; subresource?: string; name?: string }
    | undefined;
  const nra = spec.nonResourceAttributes as { path?: string; verb?: string } | undefined;
  if (!ra && !nra)
    throw new ApiError(
      422,
      'Invalid',
      `${t.res.kind}.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified`,
    );
  const attrs: RequestAttributes = ra
    ? {
        verb: ra.verb ?? '',
        resourceRequest: true,
        namespace: namespace ?? ra.namespace ?? undefined,
        apiGroup: ra.group ?? '',
        resource: ra.resource ?? '',
        subresource: ra.subresource || undefined,
        name: ra.name || undefined,
      }
    : { verb: nra?.verb ?? '', resourceRequest: false, path: nra?.path ?? '' };
  if (!ctx.authz.allowed(who, attrs)) return { allowed: false };
  return { allowed: true, reason: who.groups.includes('system:masters') ? '' : 'RBAC: allowed by a role binding' };
}

function subject(spec: Spec): UserInfo {
  const who: UserInfo = {
    username: String(spec.user ?? ''),
    uid: spec.uid as string | undefined,
    groups: (spec.groups as string[] | undefined) ?? [],
  };
  if (who.username.startsWith('system:serviceaccount:')) {
    const [, , namespace, name] = who.username.split(':');
    who.groups = [...new Set([...who.groups, ...serviceAccountUser(namespace!, name!).groups])];
  }
  return who;
}

async function answer(ctx: RegistryContext, t: Target, body: KObject): Promise<Record<string, unknown>> {
  const user = t.user!;
  const spec = (body.spec ?? {}) as Spec;
  switch (t.res.kind) {
    case 'SelfSubjectAccessReview':
      return access(ctx, t, spec, user);
    case 'SubjectAccessReview':
      return access(ctx, t, spec, subject(spec));
    case 'LocalSubjectAccessReview':
      return access(ctx, t, spec, subject(spec), t.namespace);
    case 'SelfSubjectRulesReview': {
      const rules = ctx.authz.rulesFor(user, String(spec.namespace ?? 'default'));
      return {
        resourceRules: rules
          .filter((r) => !r.nonResourceURLs)
          .map((r) => ({
            verbs: r.verbs,
            apiGroups: r.apiGroups,
            resources: r.resources,
            ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}),
          })),
        nonResourceRules: rules
          .filter((r) => r.nonResourceURLs)
          .map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs })),
        incomplete: false,
      };
    }
    case 'SelfSubjectReview':
      return { userInfo: { username: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups } };
    case 'TokenReview': {
      const wanted =
        Array.isArray(spec.audiences) && spec.audiences.length
          ? (spec.audiences as string[]).map(String)
          : [API_AUDIENCE];
      const found = await ctx.authn.authenticateToken(String(spec.token ?? ''), wanted);
      return found
        ? {
            authenticated: true,
            user: { username: found.username, ...(found.uid ? { uid: found.uid } : {}), groups: found.groups },
            audiences: found.audiences ?? wanted,
          }
        : { authenticated: false, user: {} };
    }
  }
  throw notFound(t.res, '');
}

const review = (r: ResourceType): Strategy => ({
  resource: r,
  async review(ctx, t, body) {
    const status = await answer(ctx, t, body);
    return {
      kind: t.res.kind,
      apiVersion: t.res.group ? `${t.res.group}/${t.res.version}` : t.res.version,
      metadata: { creationTimestamp: null as unknown as string, ...body.metadata },
      spec: body.spec ?? {},
      status,
    };
  },
});

const kind = (group: string, k: string, plural: string, namespaced: boolean): Strategy =>
  review(resourceType(group, 'v1', k, plural, namespaced, { review: true }));

export const REVIEWS: Strategy[] = [
  kind('authentication.k8s.io', 'TokenReview', 'tokenreviews', false),
  kind('authentication.k8s.io', 'SelfSubjectReview', 'selfsubjectreviews', false),
  kind('authorization.k8s.io', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews', false),
  kind('authorization.k8s.io', 'SelfSubjectRulesReview', 'selfsubjectrulesreviews', false),
  kind('authorization.k8s.io', 'SubjectAccessReview', 'subjectaccessreviews', false),
  kind('authorization.k8s.io', 'LocalSubjectAccessReview', 'localsubjectaccessreviews', true),
];
