/** The kinds the dashboard shows, grouped as its navigation is, with where the API serves each. */
export interface Kind {
  /** The URL segment of its pages: `deployments`, or `cr.<group>.<version>.<plural>` for a custom kind. */
  key: string;
  title: string;
  kind: string;
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  scalable?: boolean;
  restartable?: boolean;
}

export const GROUPS = ['Workloads', 'Network', 'Storage', 'Config', 'Cluster', 'Custom Resources'] as const;
export type Group = (typeof GROUPS)[number];

const k = (
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  extra: Partial<Kind> = {},
): Kind => ({
  key: plural,
  title: plural[0]!.toUpperCase() + plural.slice(1),
  kind,
  group,
  version,
  plural,
  namespaced,
  ...extra,
});

export const BUILT_IN: Record<Exclude<Group, 'Custom Resources'>, Kind[]> = {
  Workloads: [
    k('apps', 'v1', 'Deployment', 'deployments', true, { scalable: true, restartable: true }),
    k('apps', 'v1', 'StatefulSet', 'statefulsets', true, { title: 'StatefulSets', scalable: true, restartable: true }),
    k('apps', 'v1', 'DaemonSet', 'daemonsets', true, { title: 'DaemonSets', restartable: true }),
    k('apps', 'v1', 'ReplicaSet', 'replicasets', true, { title: 'ReplicaSets', scalable: true }),
    k('batch', 'v1', 'Job', 'jobs', true),
    k('batch', 'v1', 'CronJob', 'cronjobs', true, { title: 'CronJobs' }),
    k('', 'v1', 'Pod', 'pods', true),
  ],
  Network: [
    k('', 'v1', 'Service', 'services', true),
    k('networking.k8s.io', 'v1', 'Ingress', 'ingresses', true),
    k('', 'v1', 'Endpoints', 'endpoints', true),
    k('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', true, { title: 'NetworkPolicies' }),
  ],
  Storage: [
    k('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', true, { title: 'PersistentVolumeClaims' }),
    k('', 'v1', 'PersistentVolume', 'persistentvolumes', false, { title: 'PersistentVolumes' }),
    k('storage.k8s.io', 'v1', 'StorageClass', 'storageclasses', false, { title: 'StorageClasses' }),
  ],
  Config: [
    k('', 'v1', 'ConfigMap', 'configmaps', true, { title: 'ConfigMaps' }),
    k('', 'v1', 'Secret', 'secrets', true),
    k('autoscaling', 'v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', true, {
      title: 'HorizontalPodAutoscalers',
    }),
    k('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true, { title: 'PodDisruptionBudgets' }),
    k('', 'v1', 'ServiceAccount', 'serviceaccounts', true, { title: 'ServiceAccounts' }),
  ],
  Cluster: [
    k('', 'v1', 'Node', 'nodes', false),
    k('', 'v1', 'Namespace', 'namespaces', false),
    k('', 'v1', 'Event', 'events', true),
    k('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', false, { title: 'ClusterRoles' }),
    k('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', false, {
      title: 'ClusterRoleBindings',
    }),
    k('rbac.authorization.k8s.io', 'v1', 'Role', 'roles', true),
    k('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings', true, { title: 'RoleBindings' }),
    k('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions', false, {
      title: 'CustomResourceDefinitions',
    }),
  ],
};

/** A custom kind, from its CustomResourceDefinition (the served storage version). */
export function customKind(crd: {
  spec: {
    group: string;
    names: { kind: string; plural: string };
    scope: string;
    versions: Array<{ name: string; served: boolean; storage: boolean }>;
  };
}): Kind {
  const v = crd.spec.versions.find((x) => x.storage && x.served) ?? crd.spec.versions.find((x) => x.served)!;
  return {
    key: `cr.${crd.spec.group}.${v.name}.${crd.spec.names.plural}`,
    title: crd.spec.names.kind,
    kind: crd.spec.names.kind,
    group: crd.spec.group,
    version: v.name,
    plural: crd.spec.names.plural,
    namespaced: crd.spec.scope === 'Namespaced',
  };
}

/** The API path of a kind's collection (in one namespace, or all when none), or of one object. */
export function apiPath(kind: Kind, namespace?: string, name?: string): string {
  const base = kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`;
  const ns = kind.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${kind.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

export const ALL_BUILT_IN: Kind[] = Object.values(BUILT_IN).flat();

export function kindByKey(key: string, custom: Kind[]): Kind | undefined {
  return ALL_BUILT_IN.find((x) => x.key === key) ?? custom.find((x) => x.key === key);
}

/** The dashboard kind of an owner or involved object (`apps/v1` `ReplicaSet`). */
export function kindOf(apiVersion: string, kind: string, custom: Kind[]): Kind | undefined {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
  return [...ALL_BUILT_IN, ...custom].find((x) => x.kind === kind && x.group === group);
}
