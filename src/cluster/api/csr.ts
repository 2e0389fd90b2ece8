/** CertificateSigningRequests as both the API server and the signing controller read them. */
import type { KObject } from './object.js';
import type { CertificateSigningRequestSpec } from './types.js';

/** The PEM text of a CSR's `spec.request` (base64 of the PEM, as the API carries bytes). */
export function csrPem(csr: KObject): string {
  return Buffer.from(String((csr.spec as CertificateSigningRequestSpec | undefined)?.request ?? ''), 'base64').toString(
    'utf8',
  );
}
