/**
 * The Kubernetes API server's front: the HTTPS mux and its filters — authentication, impersonation,
 * authorization (the node authorizer, then RBAC) — then discovery, or a resource request dispatched to
 * the generic store (get, list, watch, create, update, three patch formats, delete, deletecollection)
 * or to the resource's own subresource handler. What differs by kind is in `registry/<group>/<kind>.ts`.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/log.js';
import { writeMetrics } from '../../common/metrics.js';
import { Dashboard, DASHBOARD_PREFIX, K8S_PREFIX } from '../dashboard/dashboard.js';
import { PortForwards } from '../dashboard/forwards.js';
import { DashboardSessions } from '../dashboard/sessions.js';
import type { Storage } from '../storage/types.js';
import { Authenticator, serviceAccountUser, type UserInfo } from './auth.js';
import { auditEvent, auditNow, type AuditContext, type AuditSink } from './audit.js';
import { bootstrapObjects, ensureNodeToken } from './bootstrap.js';
import { CLUSTER_INFO } from '../api/wellknown.js';
import { CustomResources } from './crds.js';
import { Discovery } from './discovery.js';
import { methodNotAllowed, ResourceHandlers, type VerbRequest } from './handlers.js';
import { failRequest, dryRunOf, parseObject, readBody, refuseUpgrade, send } from './http.js';
import { ApiServerMetrics, reportedVerb } from './metrics.js';
import { NamespacePhases } from './namespaces.js';
import { NodeAuthorizer, nodeOf } from './nodeauthz.js';
import { dialPodPort } from './portforward.js';
import { boolQuery, checkContentType, validateListOptions } from './requestoptions.js';
import { relayStream, type NodeProxyContext } from './streamproxy.js';
import { ApiError, type KObject } from './objects.js';
import { Authorizer, forbiddenMessage, type RequestAttributes } from './rbac.js';
import { builtIn, strategyFor } from './registry/index.js';
import { supportedFieldLabels } from './registry/list.js';
import { decode, Store } from './registry/store.js';
import type { Target } from './registry/strategy.js';
import { findResource, storageKey } from './resources.js';
import { ServiceAllocator } from './services.js';
import type { ClusterTls } from './tls.js';
import { Watches } from './watch.js';

export interface ApiServerOptions {
  storage: Storage;
  tls: ClusterTls;
  /** Bearer tokens that act as cluster admin. */
  adminTokens: string[];
  serviceCidr: string;
  nodePortRange: [number, number];
  logger: Logger;
  /** Where audit events go (`--audit-log-path`); none when absent. */
  audit?: AuditSink;
  /** The process's metrics, served on `/metrics` with this server's own in them (absent: no `/metrics`). */
  registry?: Registry;
}

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);

/**
 * Anonymous requests are refused except a GET of kubeadm's cluster-info, which a joining machine reads
 * before it has a credential; as `system:anonymous` it passes RBAC only through the Role made for it.
 */
function anonymousUser(req: IncomingMessage, url: URL): UserInfo | undefined {
  if (req.method !== 'GET' || url.pathname !== `/api/v1/namespaces/kube-public/configmaps/${CLUSTER_INFO}`)
    return undefined;
  return { username: 'system:anonymous', groups: ['system:unauthenticated'] };
}
/** Subresources served as reads and writes of the object itself, each changing its own part. */
const GENERIC_SUBRESOURCES = ['status', 'scale', 'approval', 'finalize', 'ephemeralcontainers'];

export class ApiServer {
  readonly server: https.Server;
  private readonly services: ServiceAllocator;
  private readonly authn: Authenticator;
  readonly authz: Authorizer;
  private readonly nodeAuthz: NodeAuthorizer;
  private readonly namespaces: NamespacePhases;
  private readonly crds: CustomResources;
  private readonly discovery: Discovery;
  private readonly store: Store;
  private readonly handlers: ResourceHandlers;
  private readonly ctx: NodeProxyContext;
  /** What the audit hook records of requests in flight. */
  private readonly audits = new WeakMap<IncomingMessage, AuditContext>();
  private readonly metrics?: ApiServerMetrics;
  private readonly dashboard: Dashboard;

  constructor(private readonly o: ApiServerOptions) {
    this.services = new ServiceAllocator(o.storage, o.serviceCidr, o.nodePortRange);
    this.authn = new Authenticator(o.adminTokens, o.tls.serviceAccountKey, {
      serviceAccountUid: async (namespace, name) => {
        const kv = await o.storage.get(storageKey(builtIn('serviceaccounts'), namespace, name));
        return kv ? decode(kv).metadata?.uid : undefined;
      },
      secretExists: async (namespace, name) => !!(await o.storage.get(storageKey(builtIn('secrets'), namespace, name))),
      secret: async (namespace, name) => {
        const kv = await o.storage.get(storageKey(builtIn('secrets'), namespace, name));
        if (!kv) return undefined;
        const obj = decode(kv);
        const data = Object.fromEntries(
          Object.entries((obj.data as Record<string, string> | undefined) ?? {}).map(([k, v]) => [
            k,
            Buffer.from(v, 'base64').toString(),
          ]),
        );
        return { type: obj.type as string | undefined, data };
      },
    });
    this.authz = new Authorizer(o.storage, o.logger);
    this.nodeAuthz = new NodeAuthorizer(o.storage, o.logger);
    this.namespaces = new NamespacePhases(o.storage, o.logger);
    this.crds = new CustomResources(o.storage, o.logger, () => this.discovery.invalidate());
    this.discovery = new Discovery(this.crds);
    const sessions = new DashboardSessions(this.authn, o.tls.ca);
    this.dashboard = new Dashboard(
      sessions,
      new PortForwards({
        sessionUser: (id) => sessions.user(id),
        dial: async (user, t) => {
          await this.authorize(user, {
            verb: 'create',
            resourceRequest: true,
            namespace: t.namespace,
            apiGroup: '',
            resource: 'pods',
            subresource: 'portforward',
            name: t.pod,
          });
          return dialPodPort(this.ctx, t.namespace, t.pod, t.port);
        },
      }),
    );
    this.store = new Store(() => this.ctx);
    this.handlers = new ResourceHandlers(() => this.ctx, o.storage, this.store, new Watches(o.storage));
    this.ctx = {
      storage: o.storage,
      services: this.services,
      authn: this.authn,
      authz: this.authz,
      crds: this.crds,
      namespaces: this.namespaces,
      tls: o.tls,
      logger: o.logger,
      store: this.store,
      resource: builtIn,
      impersonate: (req, user) => this.impersonate(req, user),
      authorize: (user, a) => this.authorize(user, a),
    };
    if (o.registry) this.metrics = new ApiServerMetrics(o.registry, o.storage, () => this.storedResources());
    this.server = https.createServer(
      { key: o.tls.serverKey, cert: o.tls.serverCert, ca: o.tls.ca, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        this.metrics?.track(req, res);
        const audit = o.audit;
        if (audit) {
          const ctx: AuditContext = { received: auditNow() };
          this.audits.set(req, ctx);
          res.on('close', () => audit(auditEvent(req, res, ctx)));
        }
        this.handle(req, res).catch((err: unknown) => this.fail(res, err));
      },
    );
    this.server.on('close', () => this.dashboard.forwards.closeAll());
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'https://localhost');
      const relay = url.pathname.startsWith(`${K8S_PREFIX}/`)
        ? this.dashboard.upgrade(req, url).then(({ user, path }) => {
            req.url = path;
            return relayStream(this.ctx, req, socket, head, user);
          })
        : relayStream(this.ctx, req, socket, head);
      relay.catch((err: unknown) => refuseUpgrade(socket, err));
    });
  }

  /** Every kind kept in storage once (several versions share one prefix), named as metrics name them. */
  private storedResources(): Array<{ resource: string; prefix: string }> {
    const byPrefix = new Map<string, string>();
    for (const r of this.discovery.resources())
      if (!r.review && !r.readOnly)
        byPrefix.set(storageKey(r, undefined), r.group ? `${r.plural}.${r.group}` : r.plural);
    return [...byPrefix].map(([prefix, resource]) => ({ prefix, resource }));
  }

  /** Built-in objects every cluster has, then the authorizers and the custom kinds follow storage. */
  async bootstrap(advertise: { address: string; port: number }): Promise<void> {
    await bootstrapObjects(this.ctx, advertise, this.o.tls.ca);
    await this.authz.start();
    await this.nodeAuthz.start();
    await this.namespaces.start();
    await this.crds.start();
  }

  /** The token nodes join with (see `bootstrap.ts`). */
  ensureNodeToken(file: string): Promise<string> {
    return ensureNodeToken(this.ctx, file, this.o.tls.ca);
  }

  /** Create as the API server itself (no user): bootstrap objects and tests. */
  create(t: Target, body: KObject, dryRun = false): Promise<KObject> {
    return this.store.create(t, body, dryRun);
  }

  private fail(res: ServerResponse, err: unknown): void {
    failRequest(res, err, this.o.logger);
  }

  /** The user a request acts as: its own, or the one it impersonates when allowed to (`kubectl --as`). */
  private async impersonate(req: IncomingMessage, user: UserInfo): Promise<UserInfo> {
    const as = req.headers['impersonate-user'];
    if (typeof as !== 'string' || !as) return user;
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(as);
    const target: RequestAttributes = sa
      ? {
          verb: 'impersonate',
          resourceRequest: true,
          apiGroup: '',
          resource: 'serviceaccounts',
          namespace: sa[1],
          name: sa[2],
        }
      : { verb: 'impersonate', resourceRequest: true, apiGroup: '', resource: 'users', name: as };
    await this.authorize(user, target);
    const asGroups = ([] as string[]).concat(req.headers['impersonate-group'] ?? []);
    for (const g of asGroups)
      await this.authorize(user, {
        verb: 'impersonate',
        resourceRequest: true,
        apiGroup: '',
        resource: 'groups',
        name: g,
      });
    const base = sa ? serviceAccountUser(sa[1]!, sa[2]!) : { username: as, groups: ['system:authenticated'] };
    return { ...base, groups: [...new Set([...asGroups, ...base.groups])] };
  }

  /**
   * Nodes are authorized by the Node authorizer for what it rules on, everyone by RBAC; as in
   * Kubernetes, a request either allows is allowed.
   */
  private async authorize(user: UserInfo, a: RequestAttributes): Promise<void> {
    const node = nodeOf(user);
    if (node && (await this.nodeAuthz.decide(node, a))) return;
    if (!this.authz.allowed(user, a))
      throw new ApiError(
        403,
        'Forbidden',
        forbiddenMessage(user, a),
        a.resourceRequest ? { name: a.name, group: a.apiGroup, kind: a.resource } : undefined,
      );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    // The dashboard: its pages and login, and the API as its session's user (no impersonation).
    if (url.pathname === DASHBOARD_PREFIX || url.pathname.startsWith(`${DASHBOARD_PREFIX}/`))
      return this.dashboard.handle(
        req,
        res,
        url,
        (r) => this.authn.authenticate(r),
        (user, pathAndQuery) => {
          const audit = this.audits.get(req);
          if (audit) audit.user = user;
          return this.serve(req, res, new URL(pathAndQuery, 'https://localhost'), user);
        },
      );
    const authenticated = await this.authn.authenticate(req);
    const audit = this.audits.get(req);
    if (audit && authenticated) audit.user = authenticated;
    const user = authenticated ? await this.impersonate(req, authenticated) : anonymousUser(req, url);
    if (audit && user && authenticated && user !== authenticated)
      [audit.user, audit.impersonatedBy] = [user, authenticated];
    return this.serve(req, res, url, user);
  }

  /** A request as `user` (undefined: anonymous, which only the public paths serve). */
  private async serve(req: IncomingMessage, res: ServerResponse, url: URL, user: UserInfo | undefined): Promise<void> {
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (!PUBLIC_PATHS.has(p)) {
      if (!user) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      const segments = p.split('/').filter(Boolean);
      const resourcePath =
        (segments[0] === 'api' && segments.length >= 3) || (segments[0] === 'apis' && segments.length >= 4);
      if (!resourcePath)
        await this.authorize(user, {
          verb: (req.method ?? 'GET').toLowerCase() === 'get' ? 'get' : (req.method ?? '').toLowerCase(),
          resourceRequest: false,
          path: p,
        });
    }
    if (p === '/metrics' && this.o.registry && req.method === 'GET') return writeMetrics(this.o.registry, res);
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (this.discovery.serve(req, res, url, p)) return;
    const parts = p.split('/').filter(Boolean);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1]) [group, version, rest] = ['', parts[1], parts.slice(2)];
    else if (parts[0] === 'apis' && parts[1] && parts[2]) [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
    else throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (!rest.length) return this.discovery.groupVersion(res, group, version);
    const target = { ...this.target(group, version, rest), user: user! };
    return this.dispatch(req, res, url, target);
  }

  private target(group: string, version: string, rest: string[]): Target {
    let namespace: string | undefined;
    let segs = rest;
    // `namespaces/<name>/<subresource>` (status, finalize) names a namespace, not a resource inside one.
    const all = this.discovery.resources();
    const namespaces = group === '' ? findResource(all, group, version, 'namespaces') : undefined;
    if (namespaces && rest[0] === 'namespaces' && rest.length === 3 && namespaces.subresources?.includes(rest[2]!))
      return { res: namespaces, name: rest[1], subresource: rest[2] };
    if (segs[0] === 'namespaces' && segs.length >= 3) {
      namespace = segs[1];
      segs = segs.slice(2);
    }
    const res = findResource(all, group, version, segs[0]!);
    if (!res) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (namespace !== undefined && !res.namespaced)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const name = segs[1];
    const subresource = segs[2];
    if (
      (segs.length > 3 && subresource !== 'proxy') ||
      (subresource && !(res.subresources ?? []).includes(subresource))
    )
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (subresource === 'proxy') return { res, namespace, name, subresource, subpath: segs.slice(3).join('/') };
    // Namespace objects are named by the `namespaces/<name>` path.
    if (res.plural === 'namespaces' && rest[0] === 'namespaces' && rest.length === 2) return { res, name: rest[1] };
    return { res, namespace, name, subresource };
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, url: URL, t: Target): Promise<void> {
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    const dryRun = dryRunOf(method, q.getAll('dryRun'));
    const watching = boolQuery(q, 'watch');
    const verb =
      method === 'GET'
        ? watching
          ? 'watch'
          : t.name
            ? 'get'
            : 'list'
        : method === 'POST'
          ? 'create'
          : method === 'PUT'
            ? 'update'
            : method === 'PATCH'
              ? 'patch'
              : method === 'DELETE'
                ? t.name
                  ? 'delete'
                  : 'deletecollection'
                : method.toLowerCase();
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    checkContentType(method, contentType);
    if ((method === 'GET' && !t.name) || (method === 'DELETE' && !t.name))
      validateListOptions(q, watching, supportedFieldLabels(t));
    this.metrics?.describe(req, t, reportedVerb(method, t, watching, contentType), dryRun);
    const audit = this.audits.get(req);
    if (audit) {
      audit.verb = verb;
      audit.objectRef = {
        resource: t.res.plural,
        ...(t.namespace ? { namespace: t.namespace } : {}),
        ...(t.name ? { name: t.name } : {}),
        ...(t.res.group ? { apiGroup: t.res.group } : {}),
        apiVersion: t.res.version,
        ...(t.subresource ? { subresource: t.subresource } : {}),
      };
    }
    if (t.user)
      await this.authorize(t.user, {
        verb,
        resourceRequest: true,
        namespace: t.namespace ?? (t.res.plural === 'namespaces' ? t.name : undefined),
        apiGroup: t.res.group,
        resource: t.res.plural,
        subresource: t.subresource,
        name: t.name,
      });
    const strategy = strategyFor(t.res);
    const body = async (): Promise<KObject> => parseObject(await readBody(req), contentType);
    if (strategy.review) {
      if (method !== 'POST' || t.name) throw methodNotAllowed();
      return send(res, 201, await strategy.review(this.ctx, t, await body()));
    }
    const r: VerbRequest = { req, res, t, query: q, method, contentType, dryRun, watching };
    if (strategy.computed) return this.handlers.computed(r, strategy.computed);
    const own = t.subresource ? strategy.subresources?.[t.subresource] : undefined;
    if (own) {
      const answer = await own.handle(this.ctx, { t, method, query: q, dryRun, body, req, res });
      if (answer) send(res, answer[0], answer[1]);
      return;
    }
    if (t.subresource && !GENERIC_SUBRESOURCES.includes(t.subresource))
      throw new ApiError(
        405,
        'MethodNotAllowed',
        `the ${t.subresource} subresource is served by the node agent, which is not part of this server yet`,
      );
    return this.handlers.serve(r);
  }
}
