/**
 * Certificate signing requests with openssl(1), for the nodes' certificates: an agent makes a key and a
 * CSR; the signer reads a CSR back (subject, SANs, self-signature) and issues a certificate with the
 * subject and extensions it decided on itself — nothing of a CSR is copied unchecked into a certificate.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Run openssl with `input` on stdin; answers stdout, rejects with stderr. */
function openssl(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`openssl ${args[0]}: ${err.trim() || `exit ${code}`}`)),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** Subject names as `/O=.../CN=...`, from parts that were validated (no '/', '=' or ','). */
function subjectArg(subject: { organizations: string[]; commonName: string }): string {
  for (const part of [...subject.organizations, subject.commonName])
    if (/[/=,+\\"\n]/.test(part)) throw new Error(`invalid subject name part: ${JSON.stringify(part)}`);
  return [...subject.organizations.map((o) => `/O=${o}`), `/CN=${subject.commonName}`].join('');
}

/** A new EC P-256 key and a CSR for it, with DNS names and IP addresses as SANs. */
export async function makeKeyAndCsr(
  subject: { organizations: string[]; commonName: string },
  sans: { dns?: string[]; ips?: string[] } = {},
): Promise<{ keyPem: string; csrPem: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-csr-'));
  try {
    const key = path.join(dir, 'key.pem');
    const csr = path.join(dir, 'csr.pem');
    const names = [...(sans.dns ?? []).map((d) => `DNS:${d}`), ...(sans.ips ?? []).map((i) => `IP:${i}`)];
    await openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      subjectArg(subject),
      ...(names.length ? ['-addext', `subjectAltName=${names.join(',')}`] : []),
    ]);
    return { keyPem: await readFile(key, 'utf8'), csrPem: await readFile(csr, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface CsrContents {
  /** RFC 2253 subject, e.g. `CN=system:node:n1,O=system:nodes`. */
  subject: string;
  dns: string[];
  ips: string[];
  /** Other kinds of SAN (email, URI): refused for node certificates. */
  otherSans: string[];
}

/** What a CSR asks for, after checking its self-signature (the requester holds the key). */
export async function inspectCsr(pem: string): Promise<CsrContents> {
  if (!/^-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE REQUEST-----\s*$/.test(pem))
    throw new Error('not a PEM certificate request');
  await openssl(['req', '-noout', '-verify'], pem);
  const subject = (await openssl(['req', '-noout', '-subject', '-nameopt', 'RFC2253'], pem))
    .trim()
    .replace(/^subject=/, '');
  const text = await openssl(['req', '-noout', '-text'], pem);
  const sanLine = /X509v3 Subject Alternative Name:[^\n]*\n\s*([^\n]*)/.exec(text)?.[1] ?? '';
  const out: CsrContents = { subject, dns: [], ips: [], otherSans: [] };
  for (const entry of sanLine
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    if (entry.startsWith('DNS:')) out.dns.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) out.ips.push(entry.slice(11));
    else out.otherSans.push(entry);
  }
  return out;
}

/**
 * A certificate for a CSR's key, signed by the CA: its subject, usage and SANs are the signer's (the
 * CSR only contributes the public key), valid for `days`.
 */
export async function signCsr(
  pem: string,
  ca: { certFile: string; keyFile: string },
  issue: {
    organizations: string[];
    commonName: string;
    usage: 'client' | 'server';
    dns?: string[];
    ips?: string[];
    days: number;
  },
): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gantry-sign-'));
  try {
    const sans = [...(issue.dns ?? []).map((d) => `DNS:${d}`), ...(issue.ips ?? []).map((i) => `IP:${i}`)];
    const ext = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${issue.usage === 'client' ? 'clientAuth' : 'serverAuth'}`,
      ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []),
    ].join('\n');
    const extFile = path.join(dir, 'ext');
    const csrFile = path.join(dir, 'csr.pem');
    await writeFile(extFile, ext + '\n');
    await writeFile(csrFile, pem);
    return await openssl([
      'x509',
      '-req',
      '-in',
      csrFile,
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      String(issue.days),
      '-sha256',
      '-extfile',
      extFile,
      '-subj',
      subjectArg(issue),
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
