/**
 * Join tokens and token discovery, as `kubeadm join` does it. A token is a bootstrap token
 * (`<id>.<secret>`, a Secret in kube-system) that may carry the hash of the cluster CA's public key in
 * front, k3s-style: `K10<sha256 hex>::<id>.<secret>`. A joining machine fetches the public
 * `kube-public/cluster-info` ConfigMap without trusting the server yet, and accepts the CA in it only
 * when (1) the ConfigMap's JWS signature for the token's id verifies with the token's secret — so the
 * server knows the token — and (2) the CA's public key has the expected hash — so it is the cluster
 * the token's maker meant.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { KObject } from '../api/object.js';
import { BOOTSTRAP_TOKEN, BOOTSTRAP_TOKEN_TYPE } from '../api/wellknown.js';

export interface JoinToken {
  id: string;
  secret: string;
  /** `<id>.<secret>`, what the API server authenticates. */
  bootstrap: string;
  /** The CA public key's sha256 (hex), when the token carries it. */
  caHash?: string;
}

/** The group nodes' join tokens put their users in, which may ask for node client certificates. */
export const NODE_TOKEN_GROUP = 'system:bootstrappers:gantry:default-node-token';

/** A new bootstrap token's id (6) and secret (16): lowercase letters and digits, as kubeadm makes them. */
export function newBootstrapToken(): { id: string; secret: string } {
  const pick = (n: number): string =>
    [...randomBytes(n)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
  return { id: pick(6), secret: pick(16) };
}

/**
 * The Secret `kube-system/bootstrap-token-<id>` a join token lives in, for authentication and for
 * signing cluster-info, in the nodes' group; `expiration` (RFC 3339) when it expires.
 */
export function bootstrapTokenSecret(o: {
  id: string;
  secret: string;
  description?: string;
  expiration?: string;
}): KObject {
  const stringData: Record<string, string> = {
    'token-id': o.id,
    'token-secret': o.secret,
    'usage-bootstrap-authentication': 'true',
    'usage-bootstrap-signing': 'true',
    'auth-extra-groups': NODE_TOKEN_GROUP,
  };
  if (o.expiration) stringData.expiration = o.expiration;
  if (o.description) stringData.description = o.description;
  return {
    metadata: { name: `bootstrap-token-${o.id}`, namespace: 'kube-system' },
    type: BOOTSTRAP_TOKEN_TYPE,
    stringData,
  };
}

const FULL_TOKEN = /^K10([0-9a-f]{64})::([a-z0-9]{6}\.[a-z0-9]{16})$/;

/** A join token from a file's text; undefined when it is neither form. */
export function parseJoinToken(text: string): JoinToken | undefined {
  const trimmed = text.trim();
  const full = FULL_TOKEN.exec(trimmed);
  const bootstrap = full ? full[2]! : trimmed;
  const m = BOOTSTRAP_TOKEN.exec(bootstrap);
  if (!m) return undefined;
  return { id: m[1]!, secret: m[2]!, bootstrap, caHash: full?.[1] };
}

export function formatJoinToken(bootstrap: string, caPem: string): string {
  return `K10${caCertHash(caPem)}::${bootstrap}`;
}

/** kubeadm's `--discovery-token-ca-cert-hash`: sha256 of the CA's DER SubjectPublicKeyInfo, hex. */
export function caCertHash(caPem: string): string {
  const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex');
}

/** `sha256:<hex>` as kubeadm's flag takes it; undefined when malformed. */
export function parseCaCertHash(flag: string): string | undefined {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(flag.trim());
  return m?.[1]?.toLowerCase();
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** The detached JWS (`<header>..<signature>`, HS256, kid = token id) that kubeadm's bootstrap signer writes. */
export function signDetached(content: string, tokenId: string, tokenSecret: string): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', kid: tokenId }));
  const sig = createHmac('sha256', tokenSecret)
    .update(`${header}.${b64url(content)}`)
    .digest();
  return `${header}..${b64url(sig)}`;
}

export function verifyDetached(content: string, jws: string, tokenId: string, tokenSecret: string): boolean {
  const [header, empty, sig] = jws.split('.');
  if (header === undefined || empty !== '' || sig === undefined) return false;
  try {
    const h = JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: string; kid?: string };
    if (h.alg !== 'HS256' || h.kid !== tokenId) return false;
  } catch {
    return false;
  }
  const want = createHmac('sha256', tokenSecret)
    .update(`${header}.${b64url(content)}`)
    .digest();
  const given = Buffer.from(sig, 'base64url');
  return want.length === given.length && timingSafeEqual(want, given);
}

/** The kubeconfig cluster-info holds: the cluster's server and CA, no user. */
export function clusterInfoKubeconfig(server: string, caPem: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    `    server: ${server}`,
    "  name: ''",
    'contexts: []',
    'current-context: ""',
    'preferences: {}',
    'users: []',
    '',
  ].join('\n');
}
