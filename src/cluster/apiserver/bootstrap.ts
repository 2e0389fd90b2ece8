/** What a new cluster starts with: its namespaces, Services, default RBAC, and the token nodes join with. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { CLUSTER_INFO } from '../api/wellknown.js';
import {
  bootstrapTokenSecret,
  clusterInfoKubeconfig,
  formatJoinToken,
  newBootstrapToken,
  parseJoinToken,
} from '../pki/jointoken.js';
import { ApiError, type KObject } from './objects.js';
import { BOOTSTRAP_CLUSTER_ROLE_BINDINGS, BOOTSTRAP_CLUSTER_ROLES } from './rbac.js';
import type { RegistryContext } from './registry/strategy.js';
import { storageKey } from './resources.js';
import { DEFAULT_CLASS_ANNOTATION, LOCAL_PATH_PROVISIONER } from '../api/volume.js';
import { INGRESS_CONTROLLER } from '../api/wellknown.js';

/**
 * Built-in objects every cluster has: the four namespaces (the ServiceAccount controller gives each its
 * `default` ServiceAccount), the
 * `kubernetes` and `kube-dns` Services, the default RBAC roles and bindings, and the default StorageClass.
 */
export async function bootstrapObjects(
  ctx: RegistryContext,
  advertise: { address: string; port: number },
  caPem: string,
): Promise<void> {
  const ns = ctx.resource('namespaces');
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    if (!(await ctx.storage.get(storageKey(ns, undefined, name))))
      await ctx.store.create({ res: ns }, { metadata: { name } });
  }
  const clusterRoles = ctx.resource('clusterroles');
  for (const role of BOOTSTRAP_CLUSTER_ROLES) {
    if (!(await ctx.storage.get(storageKey(clusterRoles, undefined, role.name)))) {
      await ctx.store.create(
        { res: clusterRoles },
        {
          metadata: {
            name: role.name,
            labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' },
            annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
          },
          rules: role.rules,
        },
      );
    }
  }
  const clusterBindings = ctx.resource('clusterrolebindings');
  for (const b of BOOTSTRAP_CLUSTER_ROLE_BINDINGS) {
    if (!(await ctx.storage.get(storageKey(clusterBindings, undefined, b.name)))) {
      await ctx.store.create(
        { res: clusterBindings },
        {
          metadata: { name: b.name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: b.role },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: b.group }],
        },
      );
    }
  }
  const svc = ctx.resource('services');
  if (!(await ctx.storage.get(storageKey(svc, 'default', 'kubernetes')))) {
    await ctx.store.create(
      { res: svc, namespace: 'default' },
      {
        metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
        spec: {
          type: 'ClusterIP',
          ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: advertise.port }],
        },
      },
    );
  }
  // The cluster DNS Service at the service range's tenth address, as k3s places it; node agents serve it.
  if (!(await ctx.storage.get(storageKey(svc, 'kube-system', 'kube-dns')))) {
    const dns: KObject = {
      metadata: { name: 'kube-dns', labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' } },
      spec: {
        type: 'ClusterIP',
        clusterIP: ctx.services.nthAddress(10),
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    };
    await ctx.store.create({ res: svc, namespace: 'kube-system' }, dns).catch(async (err: unknown) => {
      if (!(err instanceof ApiError && err.code === 422)) throw err;
      await ctx.store.create(
        { res: svc, namespace: 'kube-system' },
        { ...dns, spec: { ...dns.spec, clusterIP: undefined } },
      );
    });
  }
  // The default StorageClass, as k3s ships local-path: a directory on the node of the claim's first pod.
  const sc = ctx.resource('storageclasses');
  if (!(await ctx.storage.get(storageKey(sc, undefined, 'local-path'))))
    await ctx.store.create(
      { res: sc },
      {
        metadata: { name: 'local-path', annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
        provisioner: LOCAL_PATH_PROVISIONER,
        reclaimPolicy: 'Delete',
        volumeBindingMode: 'WaitForFirstConsumer',
      },
    );
  // The default IngressClass, served by the ingress proxy of every node's agent.
  const ingressClass = ctx.resource('ingressclasses');
  if (!(await ctx.storage.get(storageKey(ingressClass, undefined, 'gantry'))))
    await ctx.store.create(
      { res: ingressClass },
      {
        metadata: { name: 'gantry', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
        spec: { controller: INGRESS_CONTROLLER },
      },
    );
  await publishClusterInfo(ctx, advertise, caPem);
  const ep = ctx.resource('endpoints');
  if (!(await ctx.storage.get(storageKey(ep, 'default', 'kubernetes')))) {
    await ctx.store.create(
      { res: ep, namespace: 'default' },
      {
        metadata: { name: 'kubernetes' },
        subsets: [
          {
            addresses: [{ ip: advertise.address }],
            ports: [{ name: 'https', port: advertise.port, protocol: 'TCP' }],
          },
        ],
      },
    );
  }
}

/**
 * What a machine joining with a token reads before it trusts the server (kubeadm's cluster-info): the
 * server and CA in `kube-public/cluster-info`, readable by anyone, which the bootstrap signer signs with
 * each token; a Role and RoleBinding let `system:anonymous` get that one ConfigMap and nothing else.
 */
async function publishClusterInfo(
  ctx: RegistryContext,
  advertise: { address: string; port: number },
  caPem: string,
): Promise<void> {
  const host = advertise.address.includes(':') ? `[${advertise.address}]` : advertise.address;
  const cm = ctx.resource('configmaps');
  if (!(await ctx.storage.get(storageKey(cm, 'kube-public', CLUSTER_INFO))))
    await ctx.store.create(
      { res: cm, namespace: 'kube-public' },
      {
        metadata: { name: CLUSTER_INFO },
        data: { kubeconfig: clusterInfoKubeconfig(`https://${host}:${advertise.port}`, caPem) },
      },
    );
  const name = 'gantry:bootstrap-signer-clusterinfo';
  const roles = ctx.resource('roles');
  if (!(await ctx.storage.get(storageKey(roles, 'kube-public', name))))
    await ctx.store.create(
      { res: roles, namespace: 'kube-public' },
      {
        metadata: { name },
        rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [CLUSTER_INFO], verbs: ['get'] }],
      },
    );
  const bindings = ctx.resource('rolebindings');
  if (!(await ctx.storage.get(storageKey(bindings, 'kube-public', name))))
    await ctx.store.create(
      { res: bindings, namespace: 'kube-public' },
      {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:anonymous' }],
      },
    );
}

/**
 * The token nodes join with (kubeadm's bootstrap token, kept as a Secret in kube-system): the one in
 * `file` while its Secret exists, else a new one written there (mode 0600). It only lets an agent ask
 * for a node certificate; everything else a node does is with that certificate.
 */
export async function ensureNodeToken(ctx: RegistryContext, file: string, caPem: string): Promise<string> {
  const existing = parseJoinToken(existsSync(file) ? readFileSync(file, 'utf8') : '');
  if (
    existing &&
    (await ctx.storage.get(storageKey(ctx.resource('secrets'), 'kube-system', `bootstrap-token-${existing.id}`)))
  ) {
    const full = formatJoinToken(existing.bootstrap, caPem);
    // A file of the bootstrap form only (older servers) gains the CA hash.
    if (!existing.caHash) writeFileSync(file, full + '\n', { mode: 0o600 });
    return full;
  }
  const { id, secret } = newBootstrapToken();
  await ctx.store.create(
    { res: ctx.resource('secrets'), namespace: 'kube-system' },
    bootstrapTokenSecret({ id, secret, description: 'The token agents join this cluster with (gantry server).' }),
  );
  const full = formatJoinToken(`${id}.${secret}`, caPem);
  writeFileSync(file, full + '\n', { mode: 0o600 });
  return full;
}
