/**
 * The dashboard's server-side sessions. A browser never holds a credential: it logs in once with a
 * bearer token, with a kubeconfig's client certificate and key, or with a one-time link from
 * `gantry dashboard`, and gets an opaque, HttpOnly, SameSite=Strict cookie. Each request of the session
 * is checked again — the token authenticated anew (a deleted ServiceAccount or an expired token ends the
 * session at once), the certificate's validity window — and acts as that user, through RBAC like any
 * other request. Sessions live in memory: a restarted server asks users to log in again.
 */
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import type { UserInfo } from '../apiserver/auth.js';

/** How a session proves who it is, each time it is used. */
type Credential =
  | { kind: 'token'; token: string }
  | { kind: 'certificate'; cert: X509Certificate; user: UserInfo }
  /** A one-time link: the user who asked for it, until the session ends. */
  | { kind: 'link'; user: UserInfo };

interface Session {
  credential: Credential;
  expires: number;
}

/** Why a session or login is refused: the dashboard shows it on its login page. */
export class LoginError extends Error {}

export const SESSION_COOKIE = 'gantry-dashboard-session';
const SESSION_MS = 12 * 3600_000;
const LINK_MS = 5 * 60_000;
const MAX_SESSIONS = 10_000;

export interface TokenAuthenticator {
  authenticateToken(token: string): Promise<UserInfo | undefined>;
}

/** Why a bearer token was refused, read from its (unverified) claims where it is a JWT. */
export function tokenRefusal(token: string): string {
  const parts = token.split('.');
  if (parts.length === 3) {
    try {
      const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as { exp?: number };
      if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now())
        return `the token expired at ${new Date(claims.exp * 1000).toISOString()}`;
    } catch {
      // Not a JWT after all: refused for what it is below.
    }
  }
  return 'the token is not valid for this cluster (unknown, revoked, or its ServiceAccount was deleted)';
}

/** The user a client certificate names (CN the user, O the groups), as the API server reads one. */
function certificateUser(cert: X509Certificate): UserInfo {
  const field = (key: string): string[] =>
    cert.subject
      .split('\n')
      .filter((l) => l.startsWith(`${key}=`))
      .map((l) => l.slice(key.length + 1));
  const cn = field('CN')[0];
  if (!cn) throw new LoginError('the certificate names no user (no CN)');
  return { username: cn, groups: [...field('O'), 'system:authenticated'] };
}

function certificateRefusal(cert: X509Certificate): string | undefined {
  const now = Date.now();
  if (Date.parse(cert.validTo) < now) return `the certificate expired at ${new Date(cert.validTo).toISOString()}`;
  if (Date.parse(cert.validFrom) > now) return 'the certificate is not valid yet';
  return undefined;
}

export class DashboardSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly links = new Map<string, { user: UserInfo; expires: number }>();

  constructor(
    private readonly authn: TokenAuthenticator,
    /** The cluster CA (PEM), which a certificate login must chain to. */
    private readonly caPem: string,
  ) {}

  private open(credential: Credential): string {
    this.sweep();
    if (this.sessions.size >= MAX_SESSIONS) throw new LoginError('too many dashboard sessions; try again later');
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { credential, expires: Date.now() + SESSION_MS });
    return id;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions) if (s.expires < now) this.sessions.delete(id);
    for (const [code, l] of this.links) if (l.expires < now) this.links.delete(code);
  }

  async loginWithToken(token: string): Promise<{ id: string; user: UserInfo }> {
    const t = token.trim();
    if (!t) throw new LoginError('give a token');
    const user = await this.authn.authenticateToken(t);
    if (!user) throw new LoginError(tokenRefusal(t));
    return { id: this.open({ kind: 'token', token: t }), user };
  }

  /** A kubeconfig user's client certificate and key (PEM): issued by the cluster CA, valid now, key matching. */
  loginWithCertificate(certPem: string, keyPem: string): { id: string; user: UserInfo } {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch {
      throw new LoginError('the client certificate is not a PEM certificate');
    }
    const ca = new X509Certificate(this.caPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
      throw new LoginError("the client certificate was not issued by this cluster's CA");
    const refusal = certificateRefusal(cert);
    if (refusal) throw new LoginError(refusal);
    let matches = false;
    try {
      matches = cert.checkPrivateKey(createPrivateKey(keyPem));
    } catch {
      throw new LoginError('the client key is not a PEM private key');
    }
    if (!matches) throw new LoginError('the client key does not belong to the certificate');
    const user = certificateUser(cert);
    return { id: this.open({ kind: 'certificate', cert, user }), user };
  }

  /** A one-time login code for `user` (who is already authenticated), valid for five minutes. */
  createLink(user: UserInfo): string {
    this.sweep();
    const code = randomBytes(24).toString('base64url');
    this.links.set(code, { user: { ...user, groups: [...user.groups] }, expires: Date.now() + LINK_MS });
    return code;
  }

  loginWithLink(code: string): { id: string; user: UserInfo } {
    const link = this.links.get(code);
    this.links.delete(code);
    if (!link || link.expires < Date.now())
      throw new LoginError('the login link was already used or has expired; run `gantry dashboard` again');
    return { id: this.open({ kind: 'link', user: link.user }), user: link.user };
  }

  logout(id: string): void {
    this.sessions.delete(id);
  }

  /** The user of session `id` now, or a LoginError saying why it no longer works. */
  async user(id: string | undefined): Promise<UserInfo> {
    const s = id ? this.sessions.get(id) : undefined;
    if (!s || s.expires < Date.now()) {
      if (id) this.sessions.delete(id);
      throw new LoginError('not logged in, or the session has ended');
    }
    const c = s.credential;
    if (c.kind === 'token') {
      const user = await this.authn.authenticateToken(c.token);
      if (!user) {
        this.sessions.delete(id!);
        throw new LoginError(tokenRefusal(c.token));
      }
      return user;
    }
    if (c.kind === 'certificate') {
      const refusal = certificateRefusal(c.cert);
      if (refusal) {
        this.sessions.delete(id!);
        throw new LoginError(refusal);
      }
    }
    return { ...c.user, groups: [...c.user.groups] };
  }
}

/** The session cookie's value in a Cookie header. */
export function sessionIdOf(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}
