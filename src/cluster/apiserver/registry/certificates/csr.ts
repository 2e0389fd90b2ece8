/**
 * CertificateSigningRequests: the requester is recorded from the authenticated user; the `approval`
 * subresource adds Approved/Denied conditions, `status` the certificate, the main resource only metadata.
 */
import { mergeCsrUpdate, prepareCsrCreate } from '../../certificates.js';
import { resourceType } from '../../resources.js';
import type { Strategy } from '../strategy.js';

const resource = resourceType(
  'certificates.k8s.io',
  'v1',
  'CertificateSigningRequest',
  'certificatesigningrequests',
  false,
  {
    shortNames: ['csr'],
    subresources: ['status', 'approval'],
  },
);

export const certificateSigningRequests: Strategy = {
  resource,
  prepareCreate: (o, ctx) => prepareCsrCreate(resource, o, ctx.user),
  mergeUpdate: (cur, merged, subresource, requested) =>
    Object.assign(merged, mergeCsrUpdate(resource, subresource, cur, { ...merged, status: requested.status })),
};
