/**
 * CertificateSigningRequests: the requester is recorded from the authenticated user; the `approval`
 * subresource adds Approved/Denied conditions, `status` the certificate, the main resource only metadata.
 */
import { mergeCsrUpdate, prepareCsrCreate } from '../../certificates.js';
import { resourceType } from '../../resources.js';
import type { Strategy } from '../strategy.js';
import { ageColumn, nameColumn, spec } from '../../tables.js';
import { humanDuration } from '../../../api/age.js';
import type { KObject } from '../../objects.js';

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

/** kubectl's CONDITION: the true conditions joined, `Issued` once a certificate is there, else Pending. */
function csrCondition(o: KObject): string {
  const st = (o.status ?? {}) as { conditions?: Array<{ type: string; status?: string }>; certificate?: string };
  const shown = (st.conditions ?? []).filter((c) => c.status !== 'False').map((c) => c.type);
  if (st.certificate) shown.push('Issued');
  return shown.length ? shown.join(',') : 'Pending';
}

export const certificateSigningRequests: Strategy = {
  resource,
  columns: [
    nameColumn,
    ageColumn,
    { name: 'SignerName', type: 'string', cell: (o) => spec(o).signerName ?? '' },
    { name: 'Requestor', type: 'string', cell: (o) => spec(o).username ?? '' },
    {
      name: 'RequestedDuration',
      type: 'string',
      cell: (o) => {
        const secs = spec(o).expirationSeconds;
        return typeof secs === 'number' ? humanDuration(secs * 1000) : '<none>';
      },
    },
    { name: 'Condition', type: 'string', cell: csrCondition },
  ],
  prepareCreate: (o, ctx) => prepareCsrCreate(resource, o, ctx.user),
  mergeUpdate: (cur, merged, subresource, requested) =>
    Object.assign(merged, mergeCsrUpdate(resource, subresource, cur, { ...merged, status: requested.status })),
};
