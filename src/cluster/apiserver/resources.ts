/** The built-in resources the API server serves, with what discovery and kubectl need to know of them. */

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  subresources?: string[];
  /** Reviews: created and answered at once, never stored (SelfSubjectAccessReview, TokenReview, ...). */
  review?: boolean;
  /** Served for a CustomResourceDefinition. */
  custom?: boolean;
  /** A custom resource's additionalPrinterColumns. */
  printerColumns?: PrinterColumn[];
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  format?: string;
  priority?: number;
  description?: string;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
export const verbsOf = (r: ResourceType): string[] => (r.review ? ['create'] : VERBS);

const r = (
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  shortNames?: string[],
  all = false,
  subresources?: string[],
): ResourceType => ({
  group,
  version,
  kind,
  plural,
  singular: kind.toLowerCase(),
  namespaced,
  shortNames,
  categories: all ? ['all'] : undefined,
  subresources,
});

const review = (group: string, kind: string, plural: string, namespaced: boolean): ResourceType => ({
  ...r(group, 'v1', kind, plural, namespaced),
  review: true,
});

export const RESOURCES: ResourceType[] = [
  r('', 'v1', 'Namespace', 'namespaces', false, ['ns'], false, ['status']),
  r('', 'v1', 'Pod', 'pods', true, ['po'], true, [
    'status',
    'log',
    'exec',
    'attach',
    'portforward',
    'binding',
    'eviction',
  ]),
  r('', 'v1', 'Service', 'services', true, ['svc'], true, ['status']),
  r('', 'v1', 'Endpoints', 'endpoints', true, ['ep']),
  r('', 'v1', 'Node', 'nodes', false, ['no'], false, ['status']),
  r('', 'v1', 'ConfigMap', 'configmaps', true, ['cm']),
  r('', 'v1', 'Secret', 'secrets', true),
  r('', 'v1', 'Event', 'events', true, ['ev']),
  r('', 'v1', 'ServiceAccount', 'serviceaccounts', true, ['sa'], false, ['token']),
  r('', 'v1', 'ReplicationController', 'replicationcontrollers', true, ['rc'], true, ['status', 'scale']),
  r('', 'v1', 'PersistentVolume', 'persistentvolumes', false, ['pv'], false, ['status']),
  r('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', true, ['pvc'], false, ['status']),
  r('', 'v1', 'LimitRange', 'limitranges', true, ['limits']),
  r('', 'v1', 'ResourceQuota', 'resourcequotas', true, ['quota'], false, ['status']),
  r('', 'v1', 'PodTemplate', 'podtemplates', true),
  r('apps', 'v1', 'Deployment', 'deployments', true, ['deploy'], true, ['status', 'scale']),
  r('apps', 'v1', 'ReplicaSet', 'replicasets', true, ['rs'], true, ['status', 'scale']),
  r('apps', 'v1', 'StatefulSet', 'statefulsets', true, ['sts'], true, ['status', 'scale']),
  r('apps', 'v1', 'DaemonSet', 'daemonsets', true, ['ds'], true, ['status']),
  r('apps', 'v1', 'ControllerRevision', 'controllerrevisions', true),
  r('batch', 'v1', 'Job', 'jobs', true, undefined, true, ['status']),
  r('batch', 'v1', 'CronJob', 'cronjobs', true, ['cj'], true, ['status']),
  r('autoscaling', 'v1', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', true, ['hpa'], true, ['status']),
  r('autoscaling', 'v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', true, ['hpa'], true, ['status']),
  r('coordination.k8s.io', 'v1', 'Lease', 'leases', true),
  r('discovery.k8s.io', 'v1', 'EndpointSlice', 'endpointslices', true),
  r('networking.k8s.io', 'v1', 'Ingress', 'ingresses', true, ['ing'], false, ['status']),
  r('networking.k8s.io', 'v1', 'IngressClass', 'ingressclasses', false),
  r('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', true, ['netpol']),
  r('rbac.authorization.k8s.io', 'v1', 'Role', 'roles', true),
  r('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings', true),
  r('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', false),
  r('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
  r('events.k8s.io', 'v1', 'Event', 'events', true, ['ev']),
  r('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true, ['pdb'], false, ['status']),
  r('scheduling.k8s.io', 'v1', 'PriorityClass', 'priorityclasses', false, ['pc']),
  r('storage.k8s.io', 'v1', 'StorageClass', 'storageclasses', false, ['sc']),
  review('authentication.k8s.io', 'TokenReview', 'tokenreviews', false),
  review('authentication.k8s.io', 'SelfSubjectReview', 'selfsubjectreviews', false),
  review('authorization.k8s.io', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews', false),
  review('authorization.k8s.io', 'SelfSubjectRulesReview', 'selfsubjectrulesreviews', false),
  review('authorization.k8s.io', 'SubjectAccessReview', 'subjectaccessreviews', false),
  review('authorization.k8s.io', 'LocalSubjectAccessReview', 'localsubjectaccessreviews', true),
  r('certificates.k8s.io', 'v1', 'CertificateSigningRequest', 'certificatesigningrequests', false, ['csr'], false, [
    'status',
    'approval',
  ]),
  r(
    'apiextensions.k8s.io',
    'v1',
    'CustomResourceDefinition',
    'customresourcedefinitions',
    false,
    ['crd', 'crds'],
    false,
    ['status'],
  ),
];

/** Groups and their versions, preferred first, in discovery order. */
export function groups(resources: ResourceType[]): Array<{ name: string; versions: string[] }> {
  const out: Array<{ name: string; versions: string[] }> = [];
  for (const res of resources) {
    if (!res.group) continue;
    let g = out.find((x) => x.name === res.group);
    if (!g) out.push((g = { name: res.group, versions: [] }));
    if (!g.versions.includes(res.version)) g.versions.push(res.version);
  }
  return out;
}

export function findResource(
  resources: ResourceType[],
  group: string,
  version: string,
  plural: string,
): ResourceType | undefined {
  return resources.find((x) => x.group === group && x.version === version && x.plural === plural);
}

/** The storage key of an object: one key space per group and resource, whatever the version. */
export function storageKey(res: ResourceType, namespace: string | undefined, name?: string): string {
  const base = `/registry/${res.group || 'core'}/${res.plural}/`;
  if (!res.namespaced) return name === undefined ? base : base + name;
  if (namespace === undefined) return base;
  return name === undefined ? `${base}${namespace}/` : `${base}${namespace}/${name}`;
}
