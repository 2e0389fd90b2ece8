/**
 * RBAC authorization, as Kubernetes' RBAC authorizer decides: a request is allowed when a rule of a
 * (Cluster)Role bound to the user, one of its groups or its ServiceAccount allows the verb on the
 * resource (or the non-resource URL). ClusterRoleBindings apply everywhere; RoleBindings in the
 * request's namespace. `system:masters` is always allowed, as in Kubernetes.
 *
 * Roles and bindings are kept in memory, loaded at start and followed with a storage watch; the API
 * server also hands over its own writes at once, so a binding works on the next request.
 */
import type { Logger } from '../../common/log.js';
import { followPrefix } from '../storage/follow.js';
import type { Storage } from '../storage/types.js';
import type { UserInfo } from './auth.js';

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
  apiGroup?: string;
}

interface Binding {
  namespace?: string;
  roleRef: { kind: string; name: string };
  subjects: Subject[];
}

export interface RequestAttributes {
  verb: string;
  resourceRequest: boolean;
  namespace?: string;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  path?: string;
}

export const RBAC_PREFIX = '/registry/rbac.authorization.k8s.io/';

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];
const WORKLOAD_GROUPS = ['', 'apps', 'batch', 'autoscaling', 'networking.k8s.io', 'policy', 'discovery.k8s.io'];
const VIEWABLE = [
  'pods',
  'pods/log',
  'pods/status',
  'services',
  'services/status',
  'endpoints',
  'configmaps',
  'persistentvolumeclaims',
  'persistentvolumeclaims/status',
  'replicationcontrollers',
  'replicationcontrollers/scale',
  'replicationcontrollers/status',
  'events',
  'serviceaccounts',
  'limitranges',
  'resourcequotas',
  'resourcequotas/status',
  'namespaces',
  'namespaces/status',
  'deployments',
  'deployments/scale',
  'deployments/status',
  'replicasets',
  'replicasets/scale',
  'replicasets/status',
  'statefulsets',
  'statefulsets/scale',
  'statefulsets/status',
  'daemonsets',
  'daemonsets/status',
  'controllerrevisions',
  'jobs',
  'jobs/status',
  'cronjobs',
  'cronjobs/status',
  'horizontalpodautoscalers',
  'horizontalpodautoscalers/status',
  'ingresses',
  'ingresses/status',
  'networkpolicies',
  'poddisruptionbudgets',
  'poddisruptionbudgets/status',
  'endpointslices',
];
const EDITABLE = VIEWABLE.filter(
  (r) => !r.endsWith('/status') && r !== 'namespaces' && r !== 'pods/log' && r !== 'controllerrevisions',
).concat(['secrets', 'pods/exec', 'pods/attach', 'pods/portforward', 'pods/eviction']);

/** The default roles every cluster has, with the bindings that give them to masters and to everyone. */
export const BOOTSTRAP_CLUSTER_ROLES: Array<{ name: string; rules: PolicyRule[] }> = [
  {
    name: 'cluster-admin',
    rules: [
      { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      { nonResourceURLs: ['*'], verbs: ['*'] },
    ],
  },
  {
    name: 'admin',
    rules: [
      { apiGroups: WORKLOAD_GROUPS, resources: EDITABLE, verbs: [...READ, ...WRITE] },
      { apiGroups: WORKLOAD_GROUPS, resources: VIEWABLE, verbs: READ },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: [...READ, ...WRITE] },
      { apiGroups: ['authorization.k8s.io'], resources: ['localsubjectaccessreviews'], verbs: ['create'] },
    ],
  },
  {
    name: 'edit',
    rules: [
      { apiGroups: WORKLOAD_GROUPS, resources: EDITABLE, verbs: [...READ, ...WRITE] },
      { apiGroups: WORKLOAD_GROUPS, resources: VIEWABLE, verbs: READ },
    ],
  },
  { name: 'view', rules: [{ apiGroups: WORKLOAD_GROUPS, resources: VIEWABLE, verbs: READ }] },
  {
    name: 'system:basic-user',
    rules: [
      {
        apiGroups: ['authorization.k8s.io'],
        resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
        verbs: ['create'],
      },
      { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
    ],
  },
  // Node bootstrap (kubeadm's roles): a bootstrap token may ask for a node client certificate, which the
  // approver grants; a node may ask for its own renewal.
  {
    name: 'system:node-bootstrapper',
    rules: [
      {
        apiGroups: ['certificates.k8s.io'],
        resources: ['certificatesigningrequests'],
        verbs: ['create', 'get', 'list', 'watch'],
      },
    ],
  },
  {
    name: 'system:certificates.k8s.io:certificatesigningrequests:nodeclient',
    rules: [
      { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests/nodeclient'], verbs: ['create'] },
    ],
  },
  {
    name: 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
    rules: [
      {
        apiGroups: ['certificates.k8s.io'],
        resources: ['certificatesigningrequests/selfnodeclient'],
        verbs: ['create'],
      },
    ],
  },
  {
    name: 'system:monitoring',
    rules: [
      {
        nonResourceURLs: [
          '/healthz',
          '/healthz/*',
          '/livez',
          '/livez/*',
          '/readyz',
          '/readyz/*',
          '/metrics',
          '/metrics/slis',
        ],
        verbs: ['get'],
      },
    ],
  },
  {
    name: 'system:discovery',
    rules: [
      {
        nonResourceURLs: [
          '/api',
          '/api/*',
          '/apis',
          '/apis/*',
          '/healthz',
          '/livez',
          '/readyz',
          '/openapi',
          '/openapi/*',
          '/version',
          '/version/',
        ],
        verbs: ['get'],
      },
    ],
  },
];
export const BOOTSTRAP_CLUSTER_ROLE_BINDINGS: Array<{ name: string; role: string; group: string }> = [
  { name: 'cluster-admin', role: 'cluster-admin', group: 'system:masters' },
  { name: 'system:basic-user', role: 'system:basic-user', group: 'system:authenticated' },
  { name: 'system:discovery', role: 'system:discovery', group: 'system:authenticated' },
  { name: 'system:monitoring', role: 'system:monitoring', group: 'system:monitoring' },
  { name: 'kubeadm:kubelet-bootstrap', role: 'system:node-bootstrapper', group: 'system:bootstrappers' },
  {
    name: 'kubeadm:node-autoapprove-bootstrap',
    role: 'system:certificates.k8s.io:certificatesigningrequests:nodeclient',
    group: 'system:bootstrappers',
  },
  {
    name: 'kubeadm:node-autoapprove-certificate-rotation',
    role: 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
    group: 'system:nodes',
  },
];

const has = (list: string[] | undefined, v: string): boolean => !!list && (list.includes('*') || list.includes(v));

function resourceMatches(rule: PolicyRule, resource: string, subresource?: string): boolean {
  const full = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === full) return true;
    if (subresource && r === `*/${subresource}`) return true;
  }
  return false;
}

function urlMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some(
    (u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))),
  );
}

export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return urlMatches(rule, a.path ?? '');
  if (!has(rule.apiGroups, a.apiGroup ?? '')) return false;
  if (!resourceMatches(rule, a.resource ?? '', a.subresource)) return false;
  return !rule.resourceNames?.length || (!!a.name && rule.resourceNames.includes(a.name));
}

function subjectMatches(s: Subject, user: UserInfo, bindingNamespace?: string): boolean {
  if (s.kind === 'User') return s.name === user.username;
  if (s.kind === 'Group') return user.groups.includes(s.name);
  if (s.kind === 'ServiceAccount')
    return user.username === `system:serviceaccount:${s.namespace ?? bindingNamespace ?? ''}:${s.name}`;
  return false;
}

export class Authorizer {
  private readonly roles = new Map<string, PolicyRule[]>();
  private readonly bindings = new Map<string, Binding>();

  constructor(
    private readonly storage: Storage,
    private readonly logger: Logger,
  ) {}

  start(): Promise<void> {
    return followPrefix(this.storage, RBAC_PREFIX, this, this.logger);
  }

  reset(): void {
    this.roles.clear();
    this.bindings.clear();
  }

  /** Take in a role or binding as stored under `key` (undefined: deleted). */
  observe(key: string, value: Buffer | undefined): void {
    const [kind, ...rest] = key.slice(RBAC_PREFIX.length).split('/');
    const id = rest.join('/');
    if (kind === 'roles' || kind === 'clusterroles') {
      const mapKey = kind === 'roles' ? id : `/${id}`;
      if (!value) this.roles.delete(mapKey);
      else
        this.roles.set(
          mapKey,
          ((JSON.parse(value.toString()) as { rules?: PolicyRule[] }).rules ?? []) as PolicyRule[],
        );
    } else if (kind === 'rolebindings' || kind === 'clusterrolebindings') {
      const mapKey = `${kind}/${id}`;
      if (!value) return void this.bindings.delete(mapKey);
      const obj = JSON.parse(value.toString()) as {
        metadata?: { namespace?: string };
        roleRef?: Binding['roleRef'];
        subjects?: Subject[];
      };
      this.bindings.set(mapKey, {
        namespace: kind === 'rolebindings' ? obj.metadata?.namespace : undefined,
        roleRef: obj.roleRef ?? { kind: '', name: '' },
        subjects: obj.subjects ?? [],
      });
    }
  }

  /** The rules that apply to `user` in `namespace` (cluster-wide ones included). */
  rulesFor(user: UserInfo, namespace?: string): PolicyRule[] {
    const rules: PolicyRule[] = [];
    for (const b of this.bindings.values()) {
      if (b.namespace !== undefined && b.namespace !== namespace) continue;
      if (!b.subjects.some((s) => subjectMatches(s, user, b.namespace))) continue;
      const roleKey = b.roleRef.kind === 'Role' ? `${b.namespace}/${b.roleRef.name}` : `/${b.roleRef.name}`;
      rules.push(...(this.roles.get(roleKey) ?? []));
    }
    return rules;
  }

  /** The rules of a bound role (`Role` in `namespace`, or `ClusterRole`), or undefined when it does not exist. */
  roleRules(kind: string, name: string, namespace?: string): PolicyRule[] | undefined {
    return this.roles.get(kind === 'Role' ? `${namespace}/${name}` : `/${name}`);
  }

  allowed(user: UserInfo, a: RequestAttributes): boolean {
    if (user.groups.includes('system:masters')) return true;
    return this.rulesFor(user, a.namespace).some((rule) => ruleAllows(rule, a));
  }
}

/** The 403 message Kubernetes gives for a denied request. */
export function forbiddenMessage(user: UserInfo, a: RequestAttributes): string {
  if (!a.resourceRequest) return `forbidden: User "${user.username}" cannot ${a.verb} path "${a.path}"`;
  const what = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const named = a.name ? `${what} "${a.name}"` : what;
  const where = a.namespace
    ? ` in the namespace "${a.namespace}"`
    : a.resource === 'namespaces' && a.name
      ? ''
      : ' at the cluster scope';
  return `${named} is forbidden: User "${user.username}" cannot ${a.verb} resource "${what}" in API group "${a.apiGroup ?? ''}"${where}`;
}
