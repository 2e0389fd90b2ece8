/**
 * ConfigMaps and Secrets: keys that become file names are checked, and an `immutable` one keeps its
 * data. Secrets fold write-only `stringData` into `data`, and a `service-account-token` Secret gets its
 * token, the CA and the namespace (the token controller's job in Kubernetes).
 */
import { ApiError, invalid, type KObject } from '../../objects.js';
import { resourceType, type ResourceType } from '../../resources.js';
import { ageColumn, nameColumn } from '../../tables.js';
import { dataKeyProblems, refuse } from '../../validation.js';
import { same } from '../podtemplate.js';
import type { RegistryContext, Strategy } from '../strategy.js';

function keepImmutable(r: ResourceType, cur: KObject, next: KObject): void {
  if (cur.immutable !== true) return;
  const name = cur.metadata?.name ?? '';
  if (next.immutable !== true)
    throw invalid(r, name, [{ field: 'immutable', message: 'Forbidden: field is immutable when `immutable` is set' }]);
  for (const f of ['data', 'binaryData'])
    if (!same(cur[f], next[f]))
      throw invalid(r, name, [{ field: f, message: 'Forbidden: field is immutable when `immutable` is set' }]);
}

const configMapResource = resourceType('', 'v1', 'ConfigMap', 'configmaps', true, { shortNames: ['cm'] });

export const configMaps: Strategy = {
  resource: configMapResource,
  validate: (o) => refuse(configMapResource, o, dataKeyProblems(o)),
  validateUpdate: (cur, next) => keepImmutable(configMapResource, cur, next),
  columns: [
    nameColumn,
    {
      name: 'Data',
      type: 'integer',
      cell: (o) =>
        Object.keys((o.data as object | undefined) ?? {}).length +
        Object.keys((o.binaryData as object | undefined) ?? {}).length,
    },
    ageColumn,
  ],
};

const secretResource = resourceType('', 'v1', 'Secret', 'secrets', true);

async function fillServiceAccountToken(ctx: RegistryContext, secret: KObject): Promise<void> {
  const annotations = secret.metadata?.annotations ?? {};
  const saName = annotations['kubernetes.io/service-account.name'];
  const namespace = secret.metadata!.namespace!;
  if (!saName)
    throw new ApiError(
      422,
      'Invalid',
      `Secret "${secret.metadata?.name}" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value`,
    );
  const sa = await ctx.store.read({ res: ctx.resource('serviceaccounts'), namespace, name: saName });
  secret.metadata!.annotations = { ...annotations, 'kubernetes.io/service-account.uid': sa.metadata!.uid! };
  const token = ctx.authn.issueLegacy({ namespace, name: saName, uid: sa.metadata!.uid! }, secret.metadata!.name!);
  const b64 = (v: string): string => Buffer.from(v).toString('base64');
  secret.data = {
    ...(secret.data as Record<string, string> | undefined),
    token: b64(token),
    'ca.crt': b64(ctx.tls.ca),
    namespace: b64(namespace),
  };
}

export const secrets: Strategy = {
  resource: secretResource,
  defaults(o) {
    delete o.spec;
    o.type ??= 'Opaque';
    const stringData = o.stringData as Record<string, unknown> | undefined;
    if (stringData && typeof stringData === 'object') {
      const data = { ...((o.data as Record<string, string> | undefined) ?? {}) };
      for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(String(v)).toString('base64');
      o.data = data;
    }
    delete o.stringData;
  },
  validate: (o) => refuse(secretResource, o, dataKeyProblems(o)),
  validateUpdate: (cur, next) => keepImmutable(secretResource, cur, next),
  async prepareCreate(o, ctx) {
    if (o.type === 'kubernetes.io/service-account-token') await fillServiceAccountToken(ctx, o);
  },
  fields: (o): Record<string, string> => (typeof o.type === 'string' ? { type: o.type } : {}),
  columns: [
    nameColumn,
    { name: 'Type', type: 'string', cell: (o) => o.type ?? 'Opaque' },
    { name: 'Data', type: 'integer', cell: (o) => Object.keys((o.data as object | undefined) ?? {}).length },
    ageColumn,
  ],
};
