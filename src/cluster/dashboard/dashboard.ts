/**
 * The dashboard's HTTP side, under `/dashboard/` of the API server: the built front end, the login API
 * (`api/login`, `api/logout`, `api/session`, `api/login-links` for `gantry dashboard`), the session's
 * port-forwards (`api/port-forwards`), and
 * `api/k8s/<Kubernetes API path>`, which the API server serves as the session's user — authorized by
 * RBAC exactly as that user's own requests would be. The page holds no data and no credential.
 *
 * Cross-site requests cannot use a session: the cookie is SameSite=Strict, every write must carry the
 * `X-Gantry-Dashboard` header (which a form or another site's script cannot send without a CORS
 * preflight this server never grants), and a WebSocket must come from the dashboard's own origin.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import YAML from 'yaml';
import type { UserInfo } from '../apiserver/auth.js';
import { readBody, send } from '../apiserver/http.js';
import { ApiError } from '../apiserver/objects.js';
import { readAsset, type Asset } from './assets.js';
import { forwardRequest, type PortForwards } from './forwards.js';
import { DashboardSessions, LoginError, SESSION_COOKIE, sessionIdOf } from './sessions.js';

export const DASHBOARD_PREFIX = '/dashboard';
export const K8S_PREFIX = `${DASHBOARD_PREFIX}/api/k8s`;
export const WRITE_HEADER = 'x-gantry-dashboard';

const CSP = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  // xterm.js sizes its rows with inline styles.
  "style-src 'self' 'unsafe-inline'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

function unauthorized(reason: string): ApiError {
  return new ApiError(401, 'Unauthorized', reason);
}

/** What a login body may carry: a token, a certificate and key, a kubeconfig, or a one-time code. */
interface LoginRequest {
  token?: string;
  certificate?: string;
  key?: string;
  kubeconfig?: string;
  code?: string;
}

/** The credentials of a kubeconfig's current user: its token, or its client certificate and key. */
export function kubeconfigCredentials(text: string): { token?: string; certificate?: string; key?: string } {
  let doc: unknown;
  try {
    doc = YAML.parse(text, { maxAliasCount: 10 });
  } catch (err) {
    throw new LoginError(`the kubeconfig is not YAML: ${(err as Error).message}`);
  }
  const cfg = (doc ?? {}) as {
    'current-context'?: string;
    contexts?: Array<{ name?: string; context?: { user?: string } }>;
    users?: Array<{ name?: string; user?: Record<string, string> }>;
  };
  const context = cfg.contexts?.find((c) => c.name === cfg['current-context']) ?? cfg.contexts?.[0];
  const entry = cfg.users?.find((u) => u.name === context?.context?.user) ?? cfg.users?.[0];
  const user = entry?.user ?? {};
  const decode = (b64: string | undefined): string | undefined =>
    b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString();
  if (user.token) return { token: user.token };
  const certificate = decode(user['client-certificate-data']);
  const key = decode(user['client-key-data']);
  if (certificate && key) return { certificate, key };
  throw new LoginError(
    "the kubeconfig's user has neither a token nor embedded client-certificate-data and client-key-data",
  );
}

export class Dashboard {
  constructor(
    readonly sessions: DashboardSessions,
    readonly forwards: PortForwards,
  ) {}

  /**
   * Serve a request under `/dashboard`. `authenticate` is the API server's own (for `api/login-links`);
   * `forward` serves a Kubernetes API path as a user.
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    authenticate: (req: IncomingMessage) => Promise<UserInfo | undefined>,
    forward: (user: UserInfo, pathAndQuery: string) => Promise<void>,
  ): Promise<void> {
    const p = url.pathname;
    if (p.startsWith(`${K8S_PREFIX}/`)) {
      const user = await this.userOf(req);
      if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers[WRITE_HEADER] !== '1')
        throw new ApiError(403, 'Forbidden', `dashboard writes must carry the ${WRITE_HEADER} header`);
      return forward(user, p.slice(K8S_PREFIX.length) + url.search);
    }
    if (p.startsWith(`${DASHBOARD_PREFIX}/api/`))
      return this.api(req, res, p.slice(`${DASHBOARD_PREFIX}/api/`.length), authenticate);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new ApiError(405, 'MethodNotAllowed', 'the dashboard serves its pages with GET');
    if (p === DASHBOARD_PREFIX) {
      res.writeHead(301, { Location: `${DASHBOARD_PREFIX}/` });
      res.end();
      return;
    }
    const rest = p.slice(DASHBOARD_PREFIX.length + 1);
    let asset: Asset | undefined;
    if (rest.startsWith('assets/')) {
      asset = await readAsset(rest);
      if (!asset) throw new ApiError(404, 'NotFound', `no dashboard file ${rest}`);
    } else {
      // Every other path is a page of the app: its index, which routes in the browser.
      asset = await readAsset('index.html');
      if (!asset) throw new ApiError(503, 'ServiceUnavailable', 'the dashboard was not built (npm run build)');
    }
    res.writeHead(200, {
      'Content-Type': asset.type,
      'Content-Length': asset.body.length,
      'Cache-Control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  /** The user of a request's session, or 401 with the reason. */
  async userOf(req: IncomingMessage): Promise<UserInfo> {
    try {
      return await this.sessions.user(sessionIdOf(req.headers.cookie));
    } catch (err) {
      if (err instanceof LoginError) throw unauthorized(err.message);
      throw err;
    }
  }

  /** A WebSocket to `api/k8s/...` (exec): the session's user and the API path, from the dashboard's own origin only. */
  async upgrade(req: IncomingMessage, url: URL): Promise<{ user: UserInfo; path: string }> {
    const origin = req.headers.origin;
    if (!origin || new URL(origin).host !== req.headers.host)
      throw new ApiError(403, 'Forbidden', 'dashboard WebSockets must come from the dashboard itself');
    return { user: await this.userOf(req), path: url.pathname.slice(K8S_PREFIX.length) + url.search };
  }

  /** `api/port-forwards`: the session's forwards listed (GET), one opened (POST), one stopped (DELETE `/<id>`). */
  private async portForwards(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    await this.userOf(req);
    const sessionId = sessionIdOf(req.headers.cookie)!;
    if (req.method === 'GET' && name === 'port-forwards')
      return send(res, 200, { items: this.forwards.list(sessionId) });
    if (req.headers[WRITE_HEADER] !== '1')
      throw new ApiError(403, 'Forbidden', `dashboard writes must carry the ${WRITE_HEADER} header`);
    if (req.method === 'POST' && name === 'port-forwards') {
      let request;
      try {
        request = forwardRequest(JSON.parse((await readBody(req)).toString()));
      } catch (err) {
        throw new ApiError(400, 'BadRequest', `the port-forward request is not valid: ${(err as Error).message}`);
      }
      try {
        return send(res, 201, await this.forwards.open(sessionId, request, req.headers.host));
      } catch (err) {
        if (err instanceof LoginError) throw unauthorized(err.message);
        if (err instanceof ApiError) throw err;
        throw new ApiError(409, 'Conflict', (err as Error).message);
      }
    }
    const id = name.slice('port-forwards/'.length);
    if (req.method === 'DELETE' && id) {
      if (!this.forwards.close(sessionId, id)) throw new ApiError(404, 'NotFound', `no port-forward ${id}`);
      return send(res, 200, {});
    }
    throw new ApiError(405, 'MethodNotAllowed', 'port-forwards are listed (GET), opened (POST), stopped (DELETE)');
  }

  private async api(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    authenticate: (req: IncomingMessage) => Promise<UserInfo | undefined>,
  ): Promise<void> {
    if (name === 'session' && req.method === 'GET') return send(res, 200, { user: await this.userOf(req) });
    if (name === 'port-forwards' || name.startsWith('port-forwards/')) return this.portForwards(req, res, name);
    if (req.method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', `use POST for ${name}`);
    if (name === 'logout') {
      const id = sessionIdOf(req.headers.cookie);
      if (id) {
        this.sessions.logout(id);
        this.forwards.closeSession(id);
      }
      res.setHeader('Set-Cookie', cookie('', 0));
      return send(res, 200, {});
    }
    if (name === 'login-links') {
      // Asked by `gantry dashboard` with the kubeconfig's own credentials: a link for that same user.
      const user = await authenticate(req);
      if (!user) throw unauthorized('Unauthorized');
      return send(res, 201, { path: `${DASHBOARD_PREFIX}/login?code=${this.sessions.createLink(user)}` });
    }
    if (name !== 'login') throw new ApiError(404, 'NotFound', `no dashboard API ${name}`);
    if (req.headers[WRITE_HEADER] !== '1')
      throw new ApiError(403, 'Forbidden', `dashboard logins must carry the ${WRITE_HEADER} header`);
    let body: LoginRequest;
    try {
      body = JSON.parse((await readBody(req)).toString()) as LoginRequest;
    } catch {
      throw new ApiError(400, 'BadRequest', 'the login body is not JSON');
    }
    try {
      let login: { id: string; user: UserInfo };
      const fromKubeconfig = body.kubeconfig ? kubeconfigCredentials(String(body.kubeconfig)) : {};
      const token = body.token ?? fromKubeconfig.token;
      const certificate = body.certificate ?? fromKubeconfig.certificate;
      const key = body.key ?? fromKubeconfig.key;
      if (body.code) login = this.sessions.loginWithLink(String(body.code));
      else if (token !== undefined) login = await this.sessions.loginWithToken(String(token));
      else if (certificate && key) login = this.sessions.loginWithCertificate(String(certificate), String(key));
      else throw new LoginError('give a token, a kubeconfig, or a client certificate and key');
      res.setHeader('Set-Cookie', cookie(login.id, 12 * 3600));
      return send(res, 200, { user: login.user });
    } catch (err) {
      if (err instanceof LoginError) throw unauthorized(err.message);
      throw err;
    }
  }
}

function cookie(value: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${value}; Path=${DASHBOARD_PREFIX}/; HttpOnly; Secure; SameSite=Strict; Max-Age=${maxAgeSeconds}`;
}
