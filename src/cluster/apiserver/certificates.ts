/**
 * CertificateSigningRequests (certificates.k8s.io/v1), as Kubernetes' strategy treats them: who asked
 * is recorded by the server from the authenticated user (never taken from the body), the request is a
 * PEM CSR, the spec never changes after create, `approval` changes only the Approved/Denied conditions
 * and `status` only the certificate and the other conditions.
 */
import { csrPem } from '../api/csr.js';
import type { UserInfo } from './auth.js';
import { invalid, type KObject } from './objects.js';
import type { ResourceType } from './resources.js';

type Condition = {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
};
type CsrSpec = {
  request?: string;
  signerName?: string;
  usages?: string[];
  expirationSeconds?: number;
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: unknown;
};

const PEM_CSR = /^-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE REQUEST-----\s*$/;
const APPROVAL = new Set(['Approved', 'Denied']);
const USAGES = new Set([
  'signing',
  'digital signature',
  'content commitment',
  'key encipherment',
  'key agreement',
  'data encipherment',
  'cert sign',
  'crl sign',
  'encipher only',
  'decipher only',
  'any',
  'server auth',
  'client auth',
  'code signing',
  'email protection',
  's/mime',
  'ipsec end system',
  'ipsec tunnel',
  'ipsec user',
  'timestamping',
  'ocsp signing',
  'microsoft sgc',
  'netscape sgc',
]);

export { csrPem };

/** On create: the requester from the authenticated user, and the spec checked. */
export function prepareCsrCreate(r: ResourceType, csr: KObject, user: UserInfo | undefined): void {
  const spec = (csr.spec ??= {}) as CsrSpec;
  const name = csr.metadata?.name ?? '';
  const problems: Array<{ field: string; message: string; value?: unknown }> = [];
  if (!PEM_CSR.test(csrPem(csr)))
    problems.push({ field: 'spec.request', message: 'Invalid value: PEM block type must be CERTIFICATE REQUEST' });
  if (!spec.signerName) problems.push({ field: 'spec.signerName', message: 'Required value' });
  else if (!/^[a-z0-9.-]+\/[a-zA-Z0-9.-]+$/.test(spec.signerName))
    problems.push({
      field: 'spec.signerName',
      value: spec.signerName,
      message: "must be a fully qualified domain and path of the form 'example.com/signer-name'",
    });
  if (!Array.isArray(spec.usages) || !spec.usages.length)
    problems.push({ field: 'spec.usages', message: 'Required value' });
  else
    for (const [i, u] of spec.usages.entries())
      if (!USAGES.has(u)) problems.push({ field: `spec.usages[${i}]`, value: u, message: 'Unsupported value' });
  if (
    spec.expirationSeconds !== undefined &&
    (!Number.isInteger(spec.expirationSeconds) || spec.expirationSeconds < 600)
  )
    problems.push({
      field: 'spec.expirationSeconds',
      value: spec.expirationSeconds,
      message: 'may not specify a duration less than 600 seconds (10 minutes)',
    });
  if (problems.length) throw invalid(r, name, problems);
  delete spec.username;
  delete spec.uid;
  delete spec.groups;
  delete spec.extra;
  if (user) {
    spec.username = user.username;
    if (user.uid) spec.uid = user.uid;
    spec.groups = user.groups;
    if (user.extra) spec.extra = user.extra;
  }
}

/** On update: what each way of writing may change (the main resource: labels and annotations only). */
export function mergeCsrUpdate(r: ResourceType, subresource: string | undefined, cur: KObject, next: KObject): KObject {
  const curConditions = ((cur.status as { conditions?: Condition[] } | undefined)?.conditions ?? []) as Condition[];
  const nextConditions = ((next.status as { conditions?: Condition[] } | undefined)?.conditions ?? []) as Condition[];
  const merged: KObject = { ...next, spec: cur.spec, status: cur.status };
  if (subresource === 'approval') {
    const approvals = nextConditions.filter((c) => APPROVAL.has(c.type ?? ''));
    if (approvals.some((c) => c.type === 'Approved') && approvals.some((c) => c.type === 'Denied'))
      throw invalid(r, cur.metadata?.name ?? '', [
        { field: 'status.conditions', message: 'Approved and Denied conditions are mutually exclusive' },
      ]);
    if (
      curConditions.some((c) => APPROVAL.has(c.type ?? '')) &&
      JSON.stringify(curConditions.filter((c) => APPROVAL.has(c.type ?? ''))) !== JSON.stringify(approvals)
    ) {
      throw invalid(r, cur.metadata?.name ?? '', [
        {
          field: 'status.conditions',
          message: 'Forbidden: updates may not remove or change an Approved or Denied condition',
        },
      ]);
    }
    merged.status = {
      ...cur.status,
      conditions: [...curConditions.filter((c) => !APPROVAL.has(c.type ?? '')), ...approvals],
    };
  } else if (subresource === 'status') {
    const certificate = (next.status as { certificate?: string } | undefined)?.certificate;
    merged.status = {
      ...cur.status,
      ...(certificate !== undefined ? { certificate } : {}),
      conditions: [
        ...curConditions.filter((c) => APPROVAL.has(c.type ?? '')),
        ...nextConditions.filter((c) => !APPROVAL.has(c.type ?? '')),
      ],
    };
  }
  return merged;
}
