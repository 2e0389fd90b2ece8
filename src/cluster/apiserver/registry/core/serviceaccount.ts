/** ServiceAccounts, with `serviceaccounts/<name>/token` issuing bound tokens (`kubectl create token`). */
import { API_AUDIENCE } from '../../auth.js';
import { ApiError, type KObject } from '../../objects.js';
import { resourceType } from '../../resources.js';
import type { Strategy } from '../strategy.js';

/** Lifetime of a requested token when none is asked for, and the shortest allowed. */
const TOKEN_DEFAULT_SECONDS = 3600;
const TOKEN_MIN_SECONDS = 600;

export const serviceAccounts: Strategy = {
  resource: resourceType('', 'v1', 'ServiceAccount', 'serviceaccounts', true, {
    shortNames: ['sa'],
    subresources: ['token'],
  }),
  subresources: {
    token: {
      kind: 'TokenRequest',
      verbs: ['create', 'get'],
      async handle(ctx, { t, method, body }) {
        if (method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method');
        const request = await body();
        const sa = await ctx.store.read({ res: t.res, namespace: t.namespace, name: t.name });
        const spec = (request.spec ?? {}) as {
          audiences?: string[];
          expirationSeconds?: number;
          boundObjectRef?: unknown;
        };
        const seconds = spec.expirationSeconds ?? TOKEN_DEFAULT_SECONDS;
        if (!Number.isInteger(seconds) || seconds < TOKEN_MIN_SECONDS)
          throw new ApiError(
            422,
            'Invalid',
            `TokenRequest.authentication.k8s.io "${t.name}" is invalid: spec.expirationSeconds: Invalid value: ${seconds}: may not specify a duration less than 10 minutes`,
          );
        const audiences = spec.audiences?.length ? spec.audiences : [API_AUDIENCE];
        const issued = ctx.authn.issueBound(
          { namespace: t.namespace!, name: t.name!, uid: sa.metadata!.uid! },
          audiences,
          seconds,
        );
        const out: KObject = {
          kind: 'TokenRequest',
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { name: t.name, namespace: t.namespace, creationTimestamp: null as unknown as string },
          spec: { audiences, expirationSeconds: seconds, boundObjectRef: spec.boundObjectRef ?? null },
          status: issued,
        };
        return [201, out];
      },
    },
  },
};
