/**
 * The ServiceAccount admission plugin (Kubernetes' `plugin/pkg/admission/serviceaccount`): a pod runs
 * as `default` unless it names an account, and unless the pod or its account opts out it gets the
 * account's API access as a projected volume `kube-api-access-<suffix>` — a bound token refreshed by
 * the node, the cluster CA (`kube-root-ca.crt`) and the namespace — mounted read-only at
 * `/var/run/secrets/kubernetes.io/serviceaccount` in every container; a pod naming no pull secrets gets
 * the account's `imagePullSecrets`.
 */
import { randomInt } from 'node:crypto';
import type { PodSpec, Volume } from '../../../api/types.js';
import type { KObject } from '../../objects.js';
import type { RegistryContext } from '../strategy.js';

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The token lifetime the kubelet asks for (an hour and seven seconds, so it is told apart). */
const TOKEN_SECONDS = 3607;
/** Kubernetes' alphabet for generated suffixes (no vowels, no look-alikes). */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function apiAccessVolume(name: string): Volume {
  return {
    name,
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { expirationSeconds: TOKEN_SECONDS, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
          },
        },
      ],
    },
  };
}

export async function admitServiceAccount(o: KObject, ctx: RegistryContext): Promise<void> {
  const spec = o.spec as PodSpec;
  const account = spec.serviceAccountName || spec.serviceAccount || 'default';
  spec.serviceAccountName = account;
  spec.serviceAccount = account;
  const sa = await ctx.store
    .read({ res: ctx.resource('serviceaccounts'), namespace: o.metadata?.namespace, name: account })
    .catch(() => undefined);
  // A pod naming no pull secrets uses its account's.
  const accountSecrets = sa?.imagePullSecrets as Array<{ name?: string }> | undefined;
  if (!spec.imagePullSecrets?.length && accountSecrets?.length)
    spec.imagePullSecrets = accountSecrets.filter((s) => typeof s?.name === 'string').map((s) => ({ name: s.name! }));
  if (spec.automountServiceAccountToken === false) return;
  // The account may not exist yet (its namespace was made a moment ago): the pod still gets access.
  if (spec.automountServiceAccountToken === undefined && sa?.automountServiceAccountToken === false) return;
  const containers = [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
  if (containers.some((c) => c.volumeMounts?.some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT))) return;
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  const name = `kube-api-access-${suffix}`;
  spec.volumes = [...(spec.volumes ?? []), apiAccessVolume(name)];
  for (const c of containers)
    c.volumeMounts = [...(c.volumeMounts ?? []), { name, mountPath: SERVICE_ACCOUNT_MOUNT, readOnly: true }];
}
