/**
 * The agent's credentials, as a kubelet gets them with TLS bootstrapping: with the join token (read
 * from a file, never argv) it asks for a client certificate of its own, `system:node:<name>` in
 * `system:nodes`, through a CertificateSigningRequest the server approves and signs; from then on it
 * acts with that certificate, which the Node authorizer limits to what its pods need. With it, it asks
 * for a serving certificate for its HTTPS endpoint (its name and address), which the API server
 * verifies against the cluster CA. Both are kept in `<data dir>/pki` and reused while valid.
 */
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import type { KObject } from '../api/object.js';
import { ApiClient, ApiStatusError, collectionPath } from '../client/client.js';
import { CLIENT_KUBELET_SIGNER, KUBELET_SERVING_SIGNER } from '../controllers/certificates.js';
import { makeKeyAndCsr } from '../pki/csr.js';
import { parseJoinToken, type JoinToken } from '../pki/jointoken.js';

const RENEW_BEFORE_MS = 24 * 3600_000;
const ISSUE_TIMEOUT_MS = 60_000;

export interface NodeCredentials {
  cert: string;
  key: string;
  servingCert: string;
  servingKey: string;
}

export interface Options {
  server: string;
  ca: string;
  tokenFile?: string;
  nodeName: string;
  nodeIp: string;
  dataDir: string;
  logger: Logger;
}

/** The join token in `file`, or an error naming the forms it may take. */
export function readJoinToken(file: string): JoinToken {
  const token = parseJoinToken(readFileSync(file, 'utf8'));
  if (!token)
    throw new Error(`${file} does not hold a join token (<6 characters>.<16 characters>, or K10<CA hash>::<6>.<16>)`);
  return token;
}

/** A certificate of ours still good for a day, issued by the cluster CA for this node (and address). */
function usable(certFile: string, keyFile: string, ca: string, nodeName: string, ip?: string): boolean {
  if (!existsSync(certFile) || !existsSync(keyFile)) return false;
  try {
    const cert = new X509Certificate(readFileSync(certFile));
    const caCert = new X509Certificate(ca);
    if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) return false;
    // A crash between writing a renewed key and its certificate leaves a pair that does not match.
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))) return false;
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
    if (!cert.subject.split('\n').includes(`CN=system:node:${nodeName}`)) return false;
    return ip === undefined || (cert.subjectAltName ?? '').split(', ').includes(`IP Address:${ip}`);
  } catch {
    return false;
  }
}

/** Send a CSR and wait for the server to issue its certificate; answers the PEM. */
async function requestCertificate(
  client: ApiClient,
  csrPem: string,
  signerName: string,
  usages: string[],
): Promise<string> {
  const name = `node-csr-${randomBytes(8).toString('hex')}`;
  const collection = collectionPath('certificates.k8s.io/v1', 'certificatesigningrequests');
  try {
    await client.create(collection, {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: { request: Buffer.from(csrPem).toString('base64'), signerName, usages },
    });
  } catch (err) {
    if (err instanceof ApiStatusError && (err.code === 401 || err.code === 403))
      throw new Error(
        `the server refused the node's certificate request (${err.code}): the join token is wrong, expired or revoked`,
      );
    throw err;
  }
  const deadline = Date.now() + ISSUE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const csr = await client.request<KObject>('GET', `${collection}/${name}`);
    const status = (csr.status ?? {}) as {
      certificate?: string;
      conditions?: Array<{ type: string; status: string; message?: string }>;
    };
    if (status.certificate) return Buffer.from(status.certificate, 'base64').toString('utf8');
    const refused = status.conditions?.find((c) => (c.type === 'Denied' || c.type === 'Failed') && c.status === 'True');
    if (refused) throw new Error(`certificate request ${name} ${refused.type.toLowerCase()}: ${refused.message ?? ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `certificate request ${name} was not approved and signed within ${ISSUE_TIMEOUT_MS / 1000} s (approve it with kubectl certificate approve ${name})`,
  );
}

/** Where a node keeps its certificates: `<data dir>/pki`. */
export function credentialFiles(dataDir: string): Record<keyof NodeCredentials, string> {
  const dir = path.join(dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return {
    cert: path.join(dir, 'client.crt'),
    key: path.join(dir, 'client.key'),
    servingCert: path.join(dir, 'serving.crt'),
    servingKey: path.join(dir, 'serving.key'),
  };
}

/** Key first, then certificate, each replaced whole (written aside, renamed over). */
function writePair(keyFile: string, keyPem: string, certFile: string, certPem: string): void {
  writeFileSync(`${keyFile}.new`, keyPem, { mode: 0o600 });
  renameSync(`${keyFile}.new`, keyFile);
  writeFileSync(`${certFile}.new`, certPem, { mode: 0o644 });
  renameSync(`${certFile}.new`, certFile);
}

const nodeSubject = (nodeName: string): { organizations: string[]; commonName: string } => ({
  organizations: ['system:nodes'],
  commonName: `system:node:${nodeName}`,
});

type Credential = { token: string } | { cert: string; key: string };

/**
 * A new client certificate for the node, asked for with the join token (first start) or the current
 * certificate (renewal, which Kubernetes approves as `selfnodeclient`); kept in the data dir.
 */
export async function issueClientCertificate(o: Options, as: Credential): Promise<{ cert: string; key: string }> {
  const files = credentialFiles(o.dataDir);
  const client = new ApiClient({ server: o.server, ca: o.ca, ...as });
  try {
    const { keyPem, csrPem } = await makeKeyAndCsr(nodeSubject(o.nodeName));
    const cert = await requestCertificate(client, csrPem, CLIENT_KUBELET_SIGNER, [
      'digital signature',
      'key encipherment',
      'client auth',
    ]);
    writePair(files.key, keyPem, files.cert, cert);
    o.logger.info({ node: o.nodeName }, 'node client certificate issued');
    return { cert, key: keyPem };
  } finally {
    client.close();
  }
}

/** A new serving certificate for the agent's endpoint (its name and address), asked for as the node. */
export async function issueServingCertificate(
  o: Options,
  as: { cert: string; key: string },
): Promise<{ cert: string; key: string }> {
  const files = credentialFiles(o.dataDir);
  const client = new ApiClient({ server: o.server, ca: o.ca, ...as });
  try {
    const { keyPem, csrPem } = await makeKeyAndCsr(nodeSubject(o.nodeName), { dns: [o.nodeName], ips: [o.nodeIp] });
    const cert = await requestCertificate(client, csrPem, KUBELET_SERVING_SIGNER, [
      'digital signature',
      'key encipherment',
      'server auth',
    ]);
    writePair(files.servingKey, keyPem, files.servingCert, cert);
    o.logger.info({ node: o.nodeName, address: o.nodeIp }, 'node serving certificate issued');
    return { cert, key: keyPem };
  } finally {
    client.close();
  }
}

export async function nodeCredentials(o: Options): Promise<NodeCredentials> {
  const files = credentialFiles(o.dataDir);

  if (!usable(files.cert, files.key, o.ca, o.nodeName)) {
    if (!o.tokenFile)
      throw new Error(
        'the node has no valid certificate yet: give the join token with --token-file (the server writes it to <data dir>/node-token)',
      );
    const token = readJoinToken(o.tokenFile);
    await issueClientCertificate(o, { token: token.bootstrap });
  }
  const cert = readFileSync(files.cert, 'utf8');
  const key = readFileSync(files.key, 'utf8');

  if (!usable(files.servingCert, files.servingKey, o.ca, o.nodeName, o.nodeIp)) {
    await issueServingCertificate(o, { cert, key });
  }
  return {
    cert,
    key,
    servingCert: readFileSync(files.servingCert, 'utf8'),
    servingKey: readFileSync(files.servingKey, 'utf8'),
  };
}
