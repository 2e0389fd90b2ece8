/**
 * Authentication: who a request comes from. Three ways, as in Kubernetes:
 * - static bearer tokens (the server's `--token` and the admin kubeconfig's): user `admin` in `system:masters`;
 * - client certificates signed by the cluster CA: the user is the subject's CN, the groups its O values;
 * - ServiceAccount tokens: JWTs (ES256) signed with the server's service-account key, either bound ones
 *   issued by `serviceaccounts/<name>/token` (with an expiry) or legacy ones kept in
 *   `kubernetes.io/service-account-token` Secrets (valid while the Secret exists). A token stops working
 *   when its ServiceAccount is deleted (the uid it names must still exist).
 * Every authenticated user is also in `system:authenticated`.
 */
import { BOOTSTRAP_TOKEN, BOOTSTRAP_TOKEN_TYPE } from '../api/wellknown.js';
import { createPrivateKey, createPublicKey, sign, verify, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** The audience the API server accepts tokens for (Kubernetes' `--api-audiences` defaults to the issuer). */
export const API_AUDIENCE = ISSUER;
const LEGACY_ISSUER = 'kubernetes/serviceaccount';

interface Claims {
  iss: string;
  sub: string;
  aud?: string[];
  exp?: number;
  iat?: number;
  nbf?: number;
  'kubernetes.io'?: {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    secret?: { name: string; uid: string };
  };
  'kubernetes.io/serviceaccount/namespace'?: string;
  'kubernetes.io/serviceaccount/service-account.name'?: string;
  'kubernetes.io/serviceaccount/service-account.uid'?: string;
  'kubernetes.io/serviceaccount/secret.name'?: string;
}

/** What the authenticator asks of the cluster state: the uid of a ServiceAccount, a Secret's existence and data. */
export interface ServiceAccountLookup {
  serviceAccountUid(namespace: string, name: string): Promise<string | undefined>;
  secretExists(namespace: string, name: string): Promise<boolean>;
  /** A Secret's type and decoded data, or undefined when missing. */
  secret(namespace: string, name: string): Promise<{ type?: string; data: Record<string, string> } | undefined>;
}

export { BOOTSTRAP_TOKEN, BOOTSTRAP_TOKEN_TYPE };

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export const serviceAccountUser = (namespace: string, name: string, uid?: string): UserInfo => ({
  username: `system:serviceaccount:${namespace}:${name}`,
  uid,
  groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
});

export class Authenticator {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly certificateUsers: WeakMap<TLSSocket, UserInfo | null>;

  constructor(
    private readonly adminTokens: string[],
    serviceAccountKey: string,
    private readonly lookup: ServiceAccountLookup,
  ) {
    this.certificateUsers = new WeakMap();
    this.privateKey = createPrivateKey(serviceAccountKey);
    this.publicKey = createPublicKey(this.privateKey);
  }

  async authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return this.authenticateToken(auth.slice(7).trim());
    const sock = req.socket as TLSSocket;
    if (sock.authorized) {
      // One connection carries one certificate: read it once (getPeerCertificate builds a new object per call).
      let user = this.certificateUsers.get(sock);
      if (user === undefined) {
        const subject = sock.getPeerCertificate()?.subject as
          { O?: string | string[]; CN?: string | string[] } | undefined;
        const cn = ([] as string[]).concat(subject?.CN ?? [])[0];
        user = cn
          ? { username: cn, groups: [...([] as string[]).concat(subject?.O ?? []), 'system:authenticated'] }
          : null;
        this.certificateUsers.set(sock, user);
      }
      return user ? { ...user, groups: [...user.groups] } : undefined;
    }
    return undefined;
  }

  /**
   * The user of a bearer token. A bound ServiceAccount token is accepted only for one of `audiences`
   * (the API's own unless a TokenReview names others): a token minted for another service cannot be
   * replayed against the API.
   */
  async authenticateToken(
    token: string,
    audiences: string[] = [API_AUDIENCE],
  ): Promise<(UserInfo & { audiences?: string[] }) | undefined> {
    const given = Buffer.from(token);
    for (const admin of this.adminTokens) {
      const want = Buffer.from(admin);
      if (want.length === given.length && timingSafeEqual(want, given))
        return { username: 'admin', groups: ['system:masters', 'system:authenticated'] };
    }
    const bootstrap = BOOTSTRAP_TOKEN.exec(token);
    if (bootstrap) return this.authenticateBootstrap(bootstrap[1]!, bootstrap[2]!);
    const claims = this.verify(token);
    if (!claims) return undefined;
    const now = Math.floor(Date.now() / 1000);
    if (claims.exp !== undefined && claims.exp < now) return undefined;
    if (claims.nbf !== undefined && claims.nbf > now + 60) return undefined;
    if (claims.iss === ISSUER && claims['kubernetes.io']) {
      const accepted = (claims.aud ?? []).filter((a) => audiences.includes(a));
      if (!accepted.length || claims.exp === undefined) return undefined;
      const { namespace, serviceaccount } = claims['kubernetes.io'];
      if ((await this.lookup.serviceAccountUid(namespace, serviceaccount.name)) !== serviceaccount.uid)
        return undefined;
      return { ...serviceAccountUser(namespace, serviceaccount.name, serviceaccount.uid), audiences: accepted };
    }
    if (claims.iss === LEGACY_ISSUER) {
      const namespace = claims['kubernetes.io/serviceaccount/namespace'] ?? '';
      const name = claims['kubernetes.io/serviceaccount/service-account.name'] ?? '';
      const uid = claims['kubernetes.io/serviceaccount/service-account.uid'];
      if ((await this.lookup.serviceAccountUid(namespace, name)) !== uid) return undefined;
      if (!(await this.lookup.secretExists(namespace, claims['kubernetes.io/serviceaccount/secret.name'] ?? '')))
        return undefined;
      return serviceAccountUser(namespace, name, uid);
    }
    return undefined;
  }

  /**
   * A bootstrap token, as Kubernetes' bootstrap authenticator reads it from the Secret
   * `kube-system/bootstrap-token-<id>`: its secret must match, it must be meant for authentication and
   * not expired. The user is `system:bootstrap:<id>`, in `system:bootstrappers` and the token's extra groups.
   */
  private async authenticateBootstrap(id: string, secret: string): Promise<UserInfo | undefined> {
    const stored = await this.lookup.secret('kube-system', `bootstrap-token-${id}`);
    if (!stored || stored.type !== BOOTSTRAP_TOKEN_TYPE) return undefined;
    const d = stored.data;
    const want = Buffer.from(d['token-secret'] ?? '');
    const given = Buffer.from(secret);
    if (d['token-id'] !== id || want.length !== given.length || !timingSafeEqual(want, given)) return undefined;
    if (d['usage-bootstrap-authentication'] !== 'true') return undefined;
    if (d.expiration && !(Date.parse(d.expiration) > Date.now())) return undefined;
    const extra = (d['auth-extra-groups'] ?? '')
      .split(',')
      .map((g) => g.trim())
      .filter((g) => /^system:bootstrappers:[a-z0-9:-]+$/.test(g));
    return { username: `system:bootstrap:${id}`, groups: ['system:bootstrappers', ...extra, 'system:authenticated'] };
  }

  /** A bound token for a ServiceAccount, as the TokenRequest API issues it. */
  issueBound(
    sa: { namespace: string; name: string; uid: string },
    audiences: string[],
    expirationSeconds: number,
  ): { token: string; expirationTimestamp: string } {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + expirationSeconds;
    const token = this.signClaims({
      iss: ISSUER,
      sub: `system:serviceaccount:${sa.namespace}:${sa.name}`,
      aud: audiences,
      exp,
      iat: now,
      nbf: now,
      'kubernetes.io': { namespace: sa.namespace, serviceaccount: { name: sa.name, uid: sa.uid } },
    });
    return { token, expirationTimestamp: new Date(exp * 1000).toISOString().replace(/\.\d+Z$/, 'Z') };
  }

  /** A legacy token for a `kubernetes.io/service-account-token` Secret: no expiry, valid while the Secret exists. */
  issueLegacy(sa: { namespace: string; name: string; uid: string }, secretName: string): string {
    return this.signClaims({
      iss: LEGACY_ISSUER,
      sub: `system:serviceaccount:${sa.namespace}:${sa.name}`,
      'kubernetes.io/serviceaccount/namespace': sa.namespace,
      'kubernetes.io/serviceaccount/secret.name': secretName,
      'kubernetes.io/serviceaccount/service-account.name': sa.name,
      'kubernetes.io/serviceaccount/service-account.uid': sa.uid,
    });
  }

  private signClaims(claims: Claims): string {
    const head = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT' })) + '.' + b64url(JSON.stringify(claims));
    return head + '.' + b64url(sign('sha256', Buffer.from(head), { key: this.privateKey, dsaEncoding: 'ieee-p1363' }));
  }

  private verify(token: string): Claims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    try {
      const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()) as { alg?: string };
      if (header.alg !== 'ES256') return undefined;
      const ok = verify(
        'sha256',
        Buffer.from(`${parts[0]}.${parts[1]}`),
        { key: this.publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(parts[2]!, 'base64url'),
      );
      return ok ? (JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as Claims) : undefined;
    } catch {
      return undefined;
    }
  }
}
