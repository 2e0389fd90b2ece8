/**
 * The Kubernetes API server: discovery, and for every built-in resource get, list (label and field
 * selectors, paging), watch (from a resourceVersion, bookmarks, 410 Gone), create, update, patch (three
 * formats), delete and delete-collection over the storage interface. The resourceVersion of an object
 * is the storage revision of its last write. Tables for `kubectl get` come from `tables`.
 */
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { canonicalJson } from '../../common/canonical.js';
import type { Logger } from '../../common/log.js';
import { StorageError, type KeyValue, type Storage } from '../storage/types.js';
import {
  alreadyExists,
  ApiError,
  applyDefaults,
  badRequest,
  conflict,
  hasGeneration,
  notFound,
  validateLabels,
  validateName,
  validateUpdate,
  type KObject,
} from './objects.js';
import { jsonPatch, mergePatch, PatchError, strategicMergePatch } from './patch.js';
import { findResource, groups, RESOURCES, storageKey, verbsOf, type ResourceType } from './resources.js';
import { dashboardPage } from '../dashboard/page.js';
import { checkEscalation } from './escalation.js';
import { validateForNodes } from './validation.js';
import { mergeCsrUpdate, prepareCsrCreate } from './certificates.js';
import { NodeAuthorizer, nodeOf, nodeWriteRefusal } from './nodeauthz.js';
import { CRD_PREFIX, crdStatus, CustomResources, servableGroup, validateCrd } from './crds.js';
import { unknownFields } from './openapi/fields.js';
import { groupVersionDocument, groupVersionPath, type OpenApiDocument } from './openapi/openapi.js';
import { decodeProtobuf, isProtobuf, ProtobufError } from './protobuf/decode.js';
import { parseFieldSelector, parseLabelSelector, type Selector } from './selectors.js';
import { ServiceAllocator } from './services.js';
import { tableFor } from './tables.js';
import type { ClusterTls } from './tls.js';
import {
  API_AUDIENCE,
  Authenticator,
  BOOTSTRAP_TOKEN,
  BOOTSTRAP_TOKEN_TYPE,
  serviceAccountUser,
  type UserInfo,
} from './auth.js';
import {
  Authorizer,
  BOOTSTRAP_CLUSTER_ROLE_BINDINGS,
  BOOTSTRAP_CLUSTER_ROLES,
  forbiddenMessage,
  RBAC_PREFIX,
  type RequestAttributes,
} from './rbac.js';

export interface ApiServerOptions {
  storage: Storage;
  tls: ClusterTls;
  /** Bearer tokens that act as cluster admin. */
  adminTokens: string[];
  serviceCidr: string;
  nodePortRange: [number, number];
  logger: Logger;
}

const MAX_BODY = 3 << 20;
/** Kubernetes' alphabet for generated name suffixes: no vowels, no look-alike characters. */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const MAX_DRAIN = 64 << 20;
const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);
/** Kinds discovery gives subresources; any other (status) has its resource's kind. */
const SUBRESOURCE_KINDS: Record<string, string> = {
  scale: 'Scale',
  eviction: 'Eviction',
  binding: 'Binding',
  log: 'Pod',
  exec: 'PodExecOptions',
  attach: 'PodAttachOptions',
  portforward: 'PodPortForwardOptions',
  token: 'TokenRequest',
};
/** Lifetime of a requested ServiceAccount token when none is asked for, and the shortest allowed. */
const TOKEN_DEFAULT_SECONDS = 3600;
const TOKEN_MIN_SECONDS = 600;

interface Target {
  res: ResourceType;
  user?: UserInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The request body; one over the limit is read to its end (up to a point) so the client gets the 413. */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_DRAIN) {
      req.destroy();
      break;
    }
    if (size <= MAX_BODY) chunks.push(c as Buffer);
  }
  if (size > MAX_BODY)
    throw new ApiError(413, 'RequestEntityTooLarge', `the request body is larger than the limit of ${MAX_BODY} bytes`);
  return Buffer.concat(chunks);
}

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** An object in a request body: JSON, or protobuf as kubectl's typed commands send it; CBOR is refused. */
function parseObject(buf: Buffer, contentType: string): KObject {
  if (isProtobuf(contentType)) {
    try {
      return decodeProtobuf(buf) as KObject;
    } catch (err) {
      if (err instanceof ProtobufError) throw badRequest(err.message);
      throw err;
    }
  }
  if (/cbor/.test(contentType))
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`,
    );
  return parseJson(buf) as KObject;
}

interface DeleteOptions {
  propagationPolicy?: string;
  gracePeriodSeconds?: number;
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

/** DeleteOptions from the body (kubectl sends one) with query parameters taking precedence. */
function deleteOptions(q: URLSearchParams, body: Record<string, unknown>): DeleteOptions {
  const o = body as DeleteOptions;
  const grace = q.get('gracePeriodSeconds');
  const out: DeleteOptions = { ...o, propagationPolicy: q.get('propagationPolicy') ?? o.propagationPolicy };
  if (grace !== null) out.gracePeriodSeconds = Number(grace);
  if (q.get('orphanDependents') !== null) out.orphanDependents = q.get('orphanDependents') === 'true';
  if (out.gracePeriodSeconds !== undefined && (!Number.isInteger(out.gracePeriodSeconds) || out.gracePeriodSeconds < 0))
    throw badRequest(`invalid gracePeriodSeconds: ${String(grace ?? o.gracePeriodSeconds)}`);
  return out;
}

/**
 * Field validation as the request asks (`fieldValidation`, Warn when absent): Strict refuses an object
 * with fields its kind does not have, Warn answers with a Warning header per field, Ignore does neither.
 */
function fieldChecker(q: URLSearchParams, r: ResourceType, res: ServerResponse): (obj: unknown) => void {
  const mode = q.get('fieldValidation') ?? 'Warn';
  if (!['Strict', 'Warn', 'Ignore'].includes(mode))
    throw badRequest(`fieldValidation must be one of Ignore, Warn or Strict, not "${mode}"`);
  return (obj) => {
    if (mode === 'Ignore' || r.custom) return;
    const unknown = unknownFields(r, obj);
    if (!unknown.length) return;
    if (mode === 'Strict')
      throw badRequest(
        `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`,
      );
    res.setHeader(
      'Warning',
      unknown.map((f) => `299 - ${JSON.stringify(`unknown field "${f}"`)}`),
    );
  };
}

/** An upgrade (exec) refused before it began: a plain HTTP answer carrying a Status. */
function refuseUpgrade(socket: Duplex, err: unknown): void {
  const e =
    err instanceof ApiError
      ? err
      : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`);
  const body = JSON.stringify(e.status());
  socket.end(
    `HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

const resource = (plural: string): ResourceType => RESOURCES.find((r) => r.plural === plural)!;

const apiVersionOf = (r: ResourceType): string => (r.group ? `${r.group}/${r.version}` : r.version);

export class ApiServer {
  readonly server: https.Server;
  private readonly services: ServiceAllocator;
  private readonly authn: Authenticator;
  readonly authz: Authorizer;
  private readonly nodeAuthz: NodeAuthorizer;
  private readonly crds: CustomResources;
  /** OpenAPI documents by group/version path, dropped when custom resources change. */
  private readonly openApiCache = new Map<string, OpenApiDocument>();
  private readonly watchEvents = new WeakMap<KeyValue, { obj: KObject; line: (type: string) => string }>();

  constructor(private readonly o: ApiServerOptions) {
    this.services = new ServiceAllocator(o.storage, o.serviceCidr, o.nodePortRange);
    this.authn = new Authenticator(o.adminTokens, o.tls.serviceAccountKey, {
      serviceAccountUid: async (namespace, name) => {
        const kv = await o.storage.get(storageKey(resource('serviceaccounts'), namespace, name));
        return kv ? this.decode(kv).metadata?.uid : undefined;
      },
      secretExists: async (namespace, name) =>
        !!(await o.storage.get(storageKey(resource('secrets'), namespace, name))),
      secret: async (namespace, name) => {
        const kv = await o.storage.get(storageKey(resource('secrets'), namespace, name));
        if (!kv) return undefined;
        const obj = this.decode(kv);
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
    this.crds = new CustomResources(o.storage, o.logger, () => this.openApiCache.clear());
    this.server = https.createServer(
      { key: o.tls.serverKey, cert: o.tls.serverCert, ca: o.tls.ca, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        this.handle(req, res).catch((err: unknown) => this.fail(res, err));
      },
    );
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head).catch((err: unknown) => refuseUpgrade(socket, err));
    });
  }

  /**
   * Built-in objects every cluster has: the four namespaces (each with its `default` ServiceAccount), the
   * `kubernetes` and `kube-dns` Services, and the default RBAC roles and bindings.
   */
  async bootstrap(advertise: { address: string; port: number }): Promise<void> {
    const ns = resource('namespaces');
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      if (!(await this.o.storage.get(storageKey(ns, undefined, name))))
        await this.create({ res: ns }, { metadata: { name } });
      else await this.ensureDefaultServiceAccount(name);
    }
    const clusterRoles = resource('clusterroles');
    for (const role of BOOTSTRAP_CLUSTER_ROLES) {
      if (!(await this.o.storage.get(storageKey(clusterRoles, undefined, role.name)))) {
        await this.create(
          { res: clusterRoles },
          {
            metadata: {
              name: role.name,
              labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' },
              annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
            },
            rules: role.rules,
          },
        );
      }
    }
    const clusterBindings = resource('clusterrolebindings');
    for (const b of BOOTSTRAP_CLUSTER_ROLE_BINDINGS) {
      if (!(await this.o.storage.get(storageKey(clusterBindings, undefined, b.name)))) {
        await this.create(
          { res: clusterBindings },
          {
            metadata: { name: b.name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: b.role },
            subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: b.group }],
          },
        );
      }
    }
    await this.authz.start();
    await this.nodeAuthz.start();
    await this.crds.start();
    const svc = resource('services');
    if (!(await this.o.storage.get(storageKey(svc, 'default', 'kubernetes')))) {
      await this.create(
        { res: svc, namespace: 'default' },
        {
          metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
          spec: {
            type: 'ClusterIP',
            ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: advertise.port }],
          },
        },
      );
    }
    // The cluster DNS Service at the service range's tenth address, as k3s places it; node agents serve it.
    if (!(await this.o.storage.get(storageKey(svc, 'kube-system', 'kube-dns')))) {
      const dns: KObject = {
        metadata: { name: 'kube-dns', labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' } },
        spec: {
          type: 'ClusterIP',
          clusterIP: this.services.nthAddress(10),
          ports: [
            { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
            { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
          ],
        },
      };
      await this.create({ res: svc, namespace: 'kube-system' }, dns).catch(async (err: unknown) => {
        if (!(err instanceof ApiError && err.code === 422)) throw err;
        await this.create(
          { res: svc, namespace: 'kube-system' },
          { ...dns, spec: { ...dns.spec, clusterIP: undefined } },
        );
      });
    }
    const ep = resource('endpoints');
    if (!(await this.o.storage.get(storageKey(ep, 'default', 'kubernetes')))) {
      await this.create(
        { res: ep, namespace: 'default' },
        {
          metadata: { name: 'kubernetes' },
          subsets: [
            {
              addresses: [{ ip: advertise.address }],
              ports: [{ name: 'https', port: advertise.port, protocol: 'TCP' }],
            },
          ],
        },
      );
    }
  }

  /**
   * The token nodes join with (kubeadm's bootstrap token, kept as a Secret in kube-system): the one in
   * `file` while its Secret exists, else a new one written there (mode 0600). It only lets an agent ask
   * for a node certificate; everything else a node does is with that certificate.
   */
  async ensureNodeToken(file: string): Promise<string> {
    const existing = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
    const m = BOOTSTRAP_TOKEN.exec(existing);
    if (m && (await this.o.storage.get(storageKey(resource('secrets'), 'kube-system', `bootstrap-token-${m[1]}`))))
      return existing;
    const pick = (n: number): string =>
      [...randomBytes(n)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
    const id = pick(6);
    const secret = pick(16);
    await this.create(
      { res: resource('secrets'), namespace: 'kube-system' },
      {
        metadata: { name: `bootstrap-token-${id}` },
        type: BOOTSTRAP_TOKEN_TYPE,
        stringData: {
          'token-id': id,
          'token-secret': secret,
          'usage-bootstrap-authentication': 'true',
          'auth-extra-groups': 'system:bootstrappers:gantry:default-node-token',
          description: 'The token agents join this cluster with (gantry server).',
        },
      },
    );
    writeFileSync(file, `${id}.${secret}\n`, { mode: 0o600 });
    return `${id}.${secret}`;
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof ApiError) return send(res, err.code, err.status());
    if (err instanceof PatchError) return send(res, 422, new ApiError(422, 'Invalid', err.message).status());
    if (err instanceof StorageError && err.code === 'compacted')
      return send(res, 410, new ApiError(410, 'Expired', `too old resource version: ${err.message}`).status());
    this.o.logger.error({ err: (err as Error).stack ?? String(err) }, 'request failed');
    send(res, 500, new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`).status());
  }

  /** A namespace's `default` ServiceAccount (the ServiceAccount controller's job in Kubernetes). */
  private async ensureDefaultServiceAccount(namespace: string): Promise<void> {
    const sa = resource('serviceaccounts');
    if (await this.o.storage.get(storageKey(sa, namespace, 'default'))) return;
    await this.create({ res: sa, namespace }, { metadata: { name: 'default' } }).catch((err: unknown) => {
      if (!(err instanceof ApiError && err.code === 409)) throw err;
    });
  }

  /** What follows a stored create: RBAC objects reach the authorizer at once, namespaces get their ServiceAccount. */
  private created(r: ResourceType, obj: KObject, key: string, value: Buffer): void {
    if (key.startsWith(RBAC_PREFIX)) this.authz.observe(key, value);
    if (key.startsWith(CRD_PREFIX)) this.crds.observe(key, value);
    if (r.plural === 'namespaces')
      void this.ensureDefaultServiceAccount(obj.metadata!.name!).catch((err: unknown) =>
        this.o.logger.error({ err: String(err) }, 'default ServiceAccount not created'),
      );
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

  /** Reviews answer at once and store nothing: access checks, rules, who-am-I and token reviews. */
  private async review(t: Target, body: KObject): Promise<KObject> {
    const user = t.user!;
    const spec = (body.spec ?? {}) as Record<string, unknown>;
    const out: KObject = {
      kind: t.res.kind,
      apiVersion: apiVersionOf(t.res),
      metadata: { creationTimestamp: null as unknown as string, ...body.metadata },
      spec: body.spec ?? {},
    };
    const accessOf = (who: UserInfo, namespace?: string): { allowed: boolean; reason?: string } => {
      const ra = spec.resourceAttributes as
        | { namespace?: string; verb?: string; group?: string; resource?: string; subresource?: string; name?: string }
        | undefined;
      const nra = spec.nonResourceAttributes as { path?: string; verb?: string } | undefined;
      const attrs: RequestAttributes = ra
        ? {
            verb: ra.verb ?? '',
            resourceRequest: true,
            namespace: namespace ?? ra.namespace ?? undefined,
            apiGroup: ra.group ?? '',
            resource: ra.resource ?? '',
            subresource: ra.subresource || undefined,
            name: ra.name || undefined,
          }
        : { verb: nra?.verb ?? '', resourceRequest: false, path: nra?.path ?? '' };
      if (!ra && !nra)
        throw new ApiError(
          422,
          'Invalid',
          `${t.res.kind}.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified`,
        );
      if (this.authz.allowed(who, attrs))
        return {
          allowed: true,
          reason: who.groups.includes('system:masters') ? '' : 'RBAC: allowed by a role binding',
        };
      return { allowed: false };
    };
    switch (t.res.kind) {
      case 'SelfSubjectAccessReview':
        return { ...out, status: accessOf(user) };
      case 'SubjectAccessReview':
      case 'LocalSubjectAccessReview': {
        const who: UserInfo = {
          username: String(spec.user ?? ''),
          uid: spec.uid as string | undefined,
          groups: (spec.groups as string[] | undefined) ?? [],
        };
        if (who.username.startsWith('system:serviceaccount:'))
          who.groups = [
            ...new Set([
              ...who.groups,
              ...serviceAccountUser(who.username.split(':')[2]!, who.username.split(':')[3]!).groups,
            ]),
          ];
        return { ...out, status: accessOf(who, t.res.kind === 'LocalSubjectAccessReview' ? t.namespace : undefined) };
      }
      case 'SelfSubjectRulesReview': {
        const rules = this.authz.rulesFor(user, String(spec.namespace ?? 'default'));
        return {
          ...out,
          status: {
            resourceRules: rules
              .filter((r) => !r.nonResourceURLs)
              .map((r) => ({
                verbs: r.verbs,
                apiGroups: r.apiGroups,
                resources: r.resources,
                ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}),
              })),
            nonResourceRules: rules
              .filter((r) => r.nonResourceURLs)
              .map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs })),
            incomplete: false,
          },
        };
      }
      case 'SelfSubjectReview':
        return {
          ...out,
          status: {
            userInfo: { username: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups },
          },
        };
      case 'TokenReview': {
        const wanted =
          Array.isArray(spec.audiences) && spec.audiences.length
            ? (spec.audiences as string[]).map(String)
            : [API_AUDIENCE];
        const found = await this.authn.authenticateToken(String(spec.token ?? ''), wanted);
        return {
          ...out,
          status: found
            ? {
                authenticated: true,
                user: { username: found.username, ...(found.uid ? { uid: found.uid } : {}), groups: found.groups },
                audiences: found.audiences ?? wanted,
              }
            : { authenticated: false, user: {} },
        };
      }
    }
    throw notFound(t.res, '');
  }

  /** A `kubernetes.io/service-account-token` Secret gets its token, the CA and the namespace (the token controller's job). */
  private async fillServiceAccountToken(secret: KObject): Promise<void> {
    const annotations = secret.metadata?.annotations ?? {};
    const saName = annotations['kubernetes.io/service-account.name'];
    const namespace = secret.metadata!.namespace!;
    if (!saName)
      throw new ApiError(
        422,
        'Invalid',
        `Secret "${secret.metadata?.name}" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value`,
      );
    const sa = await this.read({ res: resource('serviceaccounts'), namespace, name: saName });
    secret.metadata!.annotations = { ...annotations, 'kubernetes.io/service-account.uid': sa.metadata!.uid! };
    const token = this.authn.issueLegacy({ namespace, name: saName, uid: sa.metadata!.uid! }, secret.metadata!.name!);
    const b64 = (v: string): string => Buffer.from(v).toString('base64');
    secret.data = {
      ...(secret.data as Record<string, string> | undefined),
      token: b64(token),
      'ca.crt': b64(this.o.tls.ca),
      namespace: b64(namespace),
    };
  }

  /**
   * `kubectl exec` (a WebSocket speaking Kubernetes' channel protocol): authorized as `create` on
   * `pods/exec`, then relayed message for message to the agent of the pod's node, which runs it.
   */
  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)$/.exec(url.pathname);
    if (!m) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const [namespace, name, sub] = m.slice(1).map(decodeURIComponent) as [string, string, string];
    const authenticated = await this.authn.authenticate(req);
    if (!authenticated) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    const user = await this.impersonate(req, authenticated);
    await this.authorize(user, {
      verb: 'create',
      resourceRequest: true,
      namespace,
      apiGroup: '',
      resource: 'pods',
      subresource: sub,
      name,
    });
    if (sub !== 'exec') throw new ApiError(405, 'MethodNotAllowed', `pods/${sub} is not served yet`);
    const { pod, nodeName, container } = await this.podContainer(namespace, name, url.searchParams.get('container'));
    if (!nodeName || (pod.status as { phase?: string } | undefined)?.phase !== 'Running')
      throw badRequest(`unable to upgrade connection: container not found ("${container}")`);
    const agentUrl = await this.agentUrl(nodeName);
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const agent = new WebSocket(
      `${agentUrl.replace(/^https/, 'wss')}/exec/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}?${url.searchParams.toString()}`,
      offered,
      this.agentTls(nodeName),
    );
    await new Promise<void>((resolve, reject) => {
      agent.once('open', resolve);
      agent.once('unexpected-response', (_r, res) =>
        reject(
          new ApiError(
            res.statusCode === 404 ? 404 : 502,
            res.statusCode === 404 ? 'NotFound' : 'BadGateway',
            `the agent refused the exec session (${res.statusCode})`,
          ),
        ),
      );
      agent.once('error', (err) =>
        reject(
          new ApiError(503, 'ServiceUnavailable', `the agent of node "${nodeName}" cannot be reached: ${err.message}`),
        ),
      );
    });
    const relay = new WebSocketServer({ noServer: true, handleProtocols: () => agent.protocol || false });
    relay.handleUpgrade(req, socket, head, (client) => {
      client.on('message', (data, binary) => agent.send(data, { binary }));
      agent.on('message', (data, binary) => client.send(data, { binary }));
      // Close codes pass through; 1005/1006 (none given, abnormal) cannot be sent, so they end as 1000.
      const code = (c: number): number => (c >= 1000 && c < 5000 && c !== 1005 && c !== 1006 ? c : 1000);
      client.on('close', (c, reason) => agent.close(code(c), reason));
      agent.on('close', (c, reason) => client.close(code(c), reason));
      client.on('error', () => agent.terminate());
      agent.on('error', () => client.terminate());
    });
  }

  /** A pod and the container a request names (its first when none is named), refused when not one of its own. */
  private async podContainer(
    namespace: string,
    name: string,
    asked: string | null,
  ): Promise<{ pod: KObject; nodeName?: string; container: string }> {
    const pod = await this.read({ res: resource('pods'), namespace, name });
    const spec = (pod.spec ?? {}) as { nodeName?: string; containers?: Array<{ name: string }> };
    const container = asked || spec.containers?.[0]?.name || '';
    if (!spec.containers?.some((c) => c.name === container))
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    return { pod, nodeName: spec.nodeName, container };
  }

  /** The HTTPS endpoint of a node's agent (its InternalIP and kubelet port), which serves logs and exec. */
  private async agentUrl(nodeName: string): Promise<string> {
    const node = await this.read({ res: resource('nodes'), name: nodeName });
    const status = (node.status ?? {}) as {
      addresses?: Array<{ type: string; address: string }>;
      daemonEndpoints?: { kubeletEndpoint?: { Port?: number } };
    };
    const address = status.addresses?.find((a) => a.type === 'InternalIP')?.address;
    const port = status.daemonEndpoints?.kubeletEndpoint?.Port;
    if (!address || !port)
      throw new ApiError(503, 'ServiceUnavailable', `node "${nodeName}" reports no agent endpoint`);
    return `https://${address}:${port}`;
  }

  /**
   * TLS to a node's agent: the API server's client certificate, and the agent's serving certificate
   * verified against the cluster CA — for the address dialled, and issued to that very node.
   */
  private agentTls(
    nodeName: string,
  ): https.RequestOptions & { checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined } {
    return {
      cert: this.o.tls.adminCert,
      key: this.o.tls.adminKey,
      ca: this.o.tls.ca,
      rejectUnauthorized: true,
      checkServerIdentity: (host, cert) => {
        const err = checkServerIdentity(host, cert);
        if (err) return err;
        const cn = ([] as string[]).concat((cert.subject as { CN?: string | string[] } | undefined)?.CN ?? []);
        return cn.includes(`system:node:${nodeName}`)
          ? undefined
          : new Error(`the agent's certificate is not for node "${nodeName}"`);
      },
    };
  }

  /** `pods/<name>/log`: fetched from the agent of the pod's node (its kubelet endpoint), streamed through. */
  private async podLogs(res: ServerResponse, t: Target, q: URLSearchParams): Promise<void> {
    const { nodeName, container } = await this.podContainer(t.namespace!, t.name!, q.get('container'));
    if (!nodeName)
      throw badRequest(`container "${container}" in pod "${t.name}" is waiting to start: ContainerCreating`);
    const agentUrl = await this.agentUrl(nodeName);
    const query = new URLSearchParams();
    for (const k of ['follow', 'tailLines', 'timestamps', 'previous']) if (q.get(k) !== null) query.set(k, q.get(k)!);
    const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = https.request(
        `${agentUrl}/containerLogs/${encodeURIComponent(t.namespace!)}/${encodeURIComponent(t.name!)}/${encodeURIComponent(container)}?${query.toString()}`,
        this.agentTls(nodeName),
        resolve,
      );
      r.on('error', (err) =>
        reject(
          new ApiError(503, 'ServiceUnavailable', `the agent of node "${nodeName}" cannot be reached: ${err.message}`),
        ),
      );
      r.end();
    });
    if (upstream.statusCode !== 200) {
      let text = '';
      for await (const c of upstream) text += (c as Buffer).toString();
      throw new ApiError(
        upstream.statusCode === 404 ? 400 : 500,
        upstream.statusCode === 404 ? 'BadRequest' : 'InternalError',
        text || `the agent answered ${upstream.statusCode}`,
      );
    }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    upstream.pipe(res);
    res.on('close', () => upstream.destroy());
  }

  /** `pods/<name>/binding`: the scheduler's way to put a pod on a node (the pod's spec is otherwise fixed). */
  private async bind(t: Target, binding: KObject, dryRun: boolean): Promise<Record<string, unknown>> {
    const target = binding.target as { kind?: string; name?: string } | undefined;
    if (!target?.name)
      throw new ApiError(422, 'Invalid', `Binding "${t.name}" is invalid: target.name: Required value`);
    if (target.kind && target.kind !== 'Node')
      throw new ApiError(
        422,
        'Invalid',
        `Binding "${t.name}" is invalid: target.kind: Unsupported value: "${target.kind}": supported values: "Node"`,
      );
    const key = storageKey(t.res, t.namespace, t.name);
    const kv = await this.o.storage.get(key);
    if (!kv) throw notFound(t.res, t.name!);
    const pod = this.decode(kv);
    const spec = (pod.spec ?? {}) as { nodeName?: string };
    if (spec.nodeName)
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on pods/binding "${t.name}": pod ${t.name} is already assigned to node "${spec.nodeName}"`,
        { name: t.name, kind: 'pods/binding' },
      );
    if (pod.metadata?.deletionTimestamp)
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on pods/binding "${t.name}": pod ${t.name} is being deleted, cannot be assigned to a host`,
        { name: t.name, kind: 'pods/binding' },
      );
    if (!dryRun) {
      const conditions = ((pod.status?.conditions as Array<{ type: string }> | undefined) ?? []).filter(
        (c) => c.type !== 'PodScheduled',
      );
      const next: KObject = {
        ...pod,
        spec: { ...pod.spec, nodeName: target.name },
        status: {
          ...pod.status,
          conditions: [
            ...conditions,
            {
              type: 'PodScheduled',
              status: 'True',
              lastProbeTime: null,
              lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
            },
          ],
        },
      };
      delete next.metadata!.resourceVersion;
      await this.o.storage.update(key, Buffer.from(JSON.stringify(next)), kv.modRevision).catch((err: unknown) => {
        if (err instanceof StorageError && err.code === 'conflict') throw conflict(t.res, t.name!);
        throw err;
      });
    }
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  }

  /**
   * `pods/<name>/eviction` (kubectl drain): deletes the pod with the eviction's options unless a
   * PodDisruptionBudget selecting it allows no disruption now (429, as Kubernetes answers).
   */
  private async evict(t: Target, eviction: KObject, dryRun: boolean): Promise<Record<string, unknown>> {
    const pod = await this.read({ res: t.res, namespace: t.namespace, name: t.name });
    const labels = pod.metadata?.labels ?? {};
    for (const kv of (await this.o.storage.list(storageKey(resource('poddisruptionbudgets'), t.namespace))).kvs) {
      const pdb = this.decode(kv);
      const spec = (pdb.spec ?? {}) as { selector?: { matchLabels?: Record<string, string> } };
      const sel = spec.selector?.matchLabels;
      if (!sel || !Object.entries(sel).every(([k, v]) => labels[k] === v)) continue;
      const status = (pdb.status ?? {}) as {
        disruptionsAllowed?: number;
        desiredHealthy?: number;
        currentHealthy?: number;
      };
      if ((status.disruptionsAllowed ?? 0) <= 0) {
        const needs = status.desiredHealthy ?? (pdb.spec as { minAvailable?: unknown } | undefined)?.minAvailable ?? 0;
        throw new ApiError(
          429,
          'TooManyRequests',
          `Cannot evict pod as it would violate the pod's disruption budget.`,
          {
            causes: [
              {
                reason: 'DisruptionBudget',
                message: `The disruption budget ${pdb.metadata?.name} needs ${String(needs)} healthy pods and has ${status.currentHealthy ?? 0} currently`,
              },
            ],
          },
        );
      }
    }
    await this.remove(
      { res: t.res, namespace: t.namespace, name: t.name },
      dryRun,
      (eviction.deleteOptions ?? {}) as DeleteOptions,
    );
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  }

  /** `serviceaccounts/<name>/token`: a bound token (`kubectl create token`). */
  private async tokenRequest(t: Target, body: KObject): Promise<KObject> {
    const sa = await this.read({ res: t.res, namespace: t.namespace, name: t.name });
    const spec = (body.spec ?? {}) as { audiences?: string[]; expirationSeconds?: number; boundObjectRef?: unknown };
    const seconds = spec.expirationSeconds ?? TOKEN_DEFAULT_SECONDS;
    if (!Number.isInteger(seconds) || seconds < TOKEN_MIN_SECONDS)
      throw new ApiError(
        422,
        'Invalid',
        `TokenRequest.authentication.k8s.io "${t.name}" is invalid: spec.expirationSeconds: Invalid value: ${seconds}: may not specify a duration less than 10 minutes`,
      );
    const audiences = spec.audiences?.length ? spec.audiences : [API_AUDIENCE];
    const issued = this.authn.issueBound(
      { namespace: t.namespace!, name: t.name!, uid: sa.metadata!.uid! },
      audiences,
      seconds,
    );
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name: t.name, namespace: t.namespace, creationTimestamp: null as unknown as string },
      spec: { audiences, expirationSeconds: seconds, boundObjectRef: spec.boundObjectRef ?? null },
      status: issued,
    };
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
    const p = url.pathname.replace(/\/+$/, '') || '/';
    // The dashboard page holds no data: it asks the API with the token its user gives.
    if (p === '/dashboard' && req.method === 'GET') {
      const page = dashboardPage();
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': Buffer.byteLength(page),
        'Content-Security-Policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
        'X-Frame-Options': 'DENY',
      });
      res.end(page);
      return;
    }
    const authenticated = await this.authn.authenticate(req);
    const user = authenticated && (await this.impersonate(req, authenticated));
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
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (p === '/version')
      return send(res, 200, {
        major: '1',
        minor: '33',
        gitVersion: 'v1.33.0-gantry',
        gitCommit: '',
        gitTreeState: 'clean',
        buildDate: '2026-11-25T00:00:00Z',
        goVersion: 'go1.24',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
    if (p === '/api')
      return send(res, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '' }],
      });
    if (p === '/apis') {
      return send(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups(this.allResources()).map((g) => ({
          name: g.name,
          versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
          preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] },
        })),
      });
    }
    // kubectl reads an empty OpenAPI v2 document as "no schemas" and skips client-side validation.
    if (p === '/openapi/v2') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end();
      return;
    }
    if (p === '/openapi/v3') return send(res, 200, { paths: this.openApiIndex() });
    if (p.startsWith('/openapi/v3/')) {
      const doc = this.openApiDocument(p.slice('/openapi/v3/'.length));
      if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(doc.body),
        Etag: `"${doc.hash}"`,
        'Cache-Control': url.searchParams.get('hash') === doc.hash ? 'public, immutable' : 'no-cache, private',
      });
      res.end(doc.body);
      return;
    }
    const parts = p.split('/').filter(Boolean);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts[1]) [group, version, rest] = ['', parts[1], parts.slice(2)];
    else if (parts[0] === 'apis' && parts[1] && parts[2]) [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
    else throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (!rest.length) return this.discovery(res, group, version);
    const target = { ...this.target(group, version, rest), user: user! };
    return this.dispatch(req, res, url, target);
  }

  /** The built-in resources and those of the CustomResourceDefinitions. */
  private allResources(): ResourceType[] {
    return [...RESOURCES, ...this.crds.resources()];
  }

  private customSchemas(gvPath: string): ReturnType<CustomResources['schemas']> {
    return this.crds.schemas(gvPath);
  }

  private openApiIndex(): Record<string, { serverRelativeURL: string }> {
    const out: Record<string, { serverRelativeURL: string }> = {};
    for (const r of this.allResources()) {
      const gv = groupVersionPath(r.group, r.version);
      if (out[gv]) continue;
      const doc = this.openApiDocument(gv);
      if (doc) out[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${doc.hash}` };
    }
    return out;
  }

  private openApiDocument(gvPath: string): OpenApiDocument | undefined {
    const cached = this.openApiCache.get(gvPath);
    if (cached) return cached;
    const kinds = this.allResources().filter((r) => !r.review && groupVersionPath(r.group, r.version) === gvPath);
    if (!kinds.length) return undefined;
    const doc = groupVersionDocument(kinds, this.customSchemas(gvPath));
    if (doc) this.openApiCache.set(gvPath, doc);
    return doc;
  }

  private discovery(res: ServerResponse, group: string, version: string): void {
    const list = this.allResources().filter((r) => r.group === group && r.version === version);
    if (!list.length) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const resources: Array<Record<string, unknown>> = [];
    for (const r of list) {
      resources.push({
        name: r.plural,
        singularName: r.singular,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: verbsOf(r),
        ...(r.shortNames ? { shortNames: r.shortNames } : {}),
        ...(r.categories ? { categories: r.categories } : {}),
        storageVersionHash: '',
      });
      for (const sub of r.subresources ?? []) {
        const kind = SUBRESOURCE_KINDS[sub] ?? r.kind;
        resources.push({
          name: `${r.plural}/${sub}`,
          singularName: '',
          namespaced: r.namespaced,
          kind,
          verbs:
            sub === 'status' || sub === 'scale'
              ? ['get', 'patch', 'update']
              : sub === 'log'
                ? ['get']
                : ['create', 'get'],
        });
      }
    }
    send(res, 200, {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: group ? `${group}/${version}` : version,
      resources,
    });
  }

  private target(group: string, version: string, rest: string[]): Target {
    let namespace: string | undefined;
    let segs = rest;
    if (segs[0] === 'namespaces' && segs.length >= 3) {
      namespace = segs[1];
      segs = segs.slice(2);
    }
    const res = findResource(this.allResources(), group, version, segs[0]!);
    if (!res) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (namespace !== undefined && !res.namespaced)
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const name = segs[1];
    const subresource = segs[2];
    if (segs.length > 3 || (subresource && !(res.subresources ?? []).includes(subresource)))
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    // Namespace objects are named by the `namespaces/<name>` path.
    if (res.plural === 'namespaces' && rest[0] === 'namespaces' && rest.length >= 2)
      return { res, name: rest[1], subresource: rest[2] };
    return { res, namespace, name, subresource };
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, url: URL, t: Target): Promise<void> {
    const q = url.searchParams;
    const dryRun = q.getAll('dryRun').includes('All');
    const method = req.method ?? 'GET';
    const watching = q.get('watch') === 'true' || q.get('watch') === '1';
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
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (t.res.review) {
      if (method !== 'POST' || t.name)
        throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
      return send(res, 201, await this.review(t, parseObject(await readBody(req), contentType)));
    }
    if (t.subresource === 'token' && method === 'POST')
      return send(res, 201, await this.tokenRequest(t, parseObject(await readBody(req), contentType)));
    if (t.subresource === 'log' && method === 'GET') return this.podLogs(res, t, q);
    if (t.subresource === 'binding' && method === 'POST')
      return send(res, 201, await this.bind(t, parseObject(await readBody(req), contentType), dryRun));
    if (t.subresource === 'eviction' && method === 'POST')
      return send(res, 201, await this.evict(t, parseObject(await readBody(req), contentType), dryRun));
    if (t.subresource && !['status', 'scale', 'approval'].includes(t.subresource))
      throw new ApiError(
        405,
        'MethodNotAllowed',
        `the ${t.subresource} subresource is served by the node agent, which is not part of this server yet`,
      );
    if (method === 'GET' && t.name) {
      const obj = await this.read(t);
      if (t.subresource === 'scale') return send(res, 200, scaleOf(obj));
      return this.respond(req, res, 200, obj, t.res);
    }
    if (method === 'GET') {
      if (watching) return this.watch(req, res, q, t);
      return this.list(req, res, q, t);
    }
    const checkFields = fieldChecker(q, t.res, res);
    if (method === 'POST' && !t.name) {
      const body = parseObject(await readBody(req), contentType);
      checkFields(body);
      return this.respond(req, res, 201, await this.create(t, body, dryRun), t.res);
    }
    if ((method === 'PUT' || method === 'PATCH') && t.name) {
      const raw = await readBody(req);
      const obj = method === 'PUT' ? parseObject(raw, contentType) : undefined;
      if (obj && t.subresource !== 'scale') checkFields(obj);
      // Server-side apply creates what is not there yet; on an existing object it merges like a strategic patch.
      if (
        method === 'PATCH' &&
        contentType === 'application/apply-patch+yaml' &&
        !t.subresource &&
        !(await this.o.storage.get(storageKey(t.res, t.namespace, t.name)))
      ) {
        const applied = parseObject(raw, 'application/json');
        if (applied.metadata?.name !== undefined && applied.metadata.name !== t.name)
          throw badRequest(
            `the name of the object (${applied.metadata.name}) does not match the name on the URL (${t.name})`,
          );
        checkFields(applied);
        return this.respond(
          req,
          res,
          201,
          await this.create(t, { ...applied, metadata: { ...applied.metadata, name: t.name } }, dryRun),
          t.res,
        );
      }
      const updated = await this.update(
        t,
        dryRun,
        (cur) => {
          if (obj) return t.subresource === 'scale' ? withScale(cur, obj) : obj;
          const patch = parseJson(raw);
          const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
          const base = t.subresource === 'scale' ? scaleOf(cur) : cur;
          let patched: unknown;
          if (type === 'application/json-patch+json') patched = jsonPatch(base as never, patch);
          else if (type === 'application/merge-patch+json') patched = mergePatch(base as never, patch as never);
          else if (type === 'application/strategic-merge-patch+json' || type === 'application/apply-patch+yaml')
            patched = strategicMergePatch(base as never, patch as never);
          else
            throw new ApiError(
              415,
              'UnsupportedMediaType',
              `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
            );
          if (t.subresource !== 'scale') checkFields(patched);
          return t.subresource === 'scale' ? withScale(cur, patched as KObject) : (patched as KObject);
        },
        method === 'PUT',
      );
      return this.respond(req, res, 200, t.subresource === 'scale' ? scaleOf(updated) : updated, t.res);
    }
    if (method === 'DELETE') {
      const raw = await readBody(req);
      const options = deleteOptions(q, raw.length ? parseObject(raw, contentType) : {});
      if (t.name)
        return this.respond(
          req,
          res,
          200,
          await this.remove(t, dryRun || options.dryRun?.includes('All') === true, options),
          t.res,
        );
      const { items } = await this.listObjects(q, t);
      for (const item of items)
        await this.remove(
          { ...t, namespace: item.metadata?.namespace, name: item.metadata!.name },
          dryRun,
          options,
        ).catch((err: unknown) => {
          if (!(err instanceof ApiError && err.code === 404)) throw err;
        });
      return send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
    }
    throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }

  /** JSON, or a Table when the client asks for one (kubectl get). */
  private respond(
    req: IncomingMessage,
    res: ServerResponse,
    code: number,
    obj: KObject | ({ items: KObject[] } & Record<string, unknown>),
    r: ResourceType,
  ): void {
    if (wantsTable(req))
      return send(
        res,
        code,
        tableFor(
          r,
          'items' in obj ? (obj.items as KObject[]) : [obj as KObject],
          String((obj as KObject).metadata?.resourceVersion ?? ''),
        ),
      );
    send(res, code, obj);
  }

  /**
   * A stored change as watchers see it, decoded and serialized once however many watchers it goes to
   * (the storage hands every watcher the same event); nothing may change the object.
   */
  private sharedEvent(kv: KeyValue): { obj: KObject; line: (type: string) => string } {
    let cached = this.watchEvents.get(kv);
    if (!cached) {
      const obj = this.decode(kv);
      const lines = new Map<string, string>();
      cached = {
        obj,
        line: (type) => {
          let line = lines.get(type);
          if (line === undefined) lines.set(type, (line = JSON.stringify({ type, object: obj }) + '\n'));
          return line;
        },
      };
      this.watchEvents.set(kv, cached);
    }
    return cached;
  }

  private decode(kv: KeyValue): KObject {
    const obj = JSON.parse(kv.value.toString('utf8')) as KObject;
    obj.metadata = { ...obj.metadata, resourceVersion: String(kv.modRevision) };
    return obj;
  }

  private async read(t: Target): Promise<KObject> {
    const kv = await this.o.storage.get(storageKey(t.res, t.namespace, t.name));
    if (!kv) throw notFound(t.res, t.name!);
    return this.decode(kv);
  }

  async create(t: Target, body: KObject, dryRun = false): Promise<KObject> {
    const r = t.res;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw badRequest('the request body must be a JSON object');
    if (body.kind !== undefined && body.kind !== r.kind)
      throw badRequest(
        `the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(r)})`,
      );
    const meta = { ...(body.metadata ?? {}) };
    if (!meta.name && meta.generateName)
      meta.name = meta.generateName + [...randomBytes(5)].map((b) => NAME_ALPHABET[b % NAME_ALPHABET.length]).join('');
    if (!meta.name)
      throw new ApiError(
        422,
        'Invalid',
        `${r.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
        {
          kind: r.kind,
          causes: [
            {
              reason: 'FieldValueRequired',
              message: 'Required value: name or generateName is required',
              field: 'metadata.name',
            },
          ],
        },
      );
    validateName(r, meta.name);
    validateLabels(r, meta.name, meta.labels);
    if (r.namespaced) {
      if (meta.namespace && t.namespace && meta.namespace !== t.namespace)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = t.namespace ?? meta.namespace ?? 'default';
      const ns = resource('namespaces');
      const nsKv = await this.o.storage.get(storageKey(ns, undefined, meta.namespace));
      if (!nsKv) throw notFound(ns, meta.namespace);
      if (this.decode(nsKv).status?.phase === 'Terminating')
        throw new ApiError(
          403,
          'Forbidden',
          `${r.plural} "${meta.name}" is forbidden: unable to create new content in namespace ${meta.namespace} because it is being terminated`,
        );
    } else delete meta.namespace;
    const obj: KObject = {
      ...body,
      apiVersion: apiVersionOf(r),
      kind: r.kind,
      metadata: { ...meta, uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
    };
    delete obj.metadata!.resourceVersion;
    if (hasGeneration(r)) obj.metadata!.generation = 1;
    // As in Kubernetes, status is the controllers' to write: a created object starts from the initial one.
    if ((r.subresources ?? []).includes('status')) delete obj.status;
    applyDefaults(r, obj);
    validateForNodes(r, obj);
    checkEscalation(this.authz, t.user, r, obj);
    const refusal = t.user && nodeWriteRefusal(nodeOf(t.user), r.plural, meta.name);
    if (refusal) throw new ApiError(403, 'Forbidden', refusal, { name: meta.name, group: r.group, kind: r.plural });
    if (r.kind === 'Service') await this.services.allocate(obj, undefined);
    if (r.kind === 'Secret' && obj.type === 'kubernetes.io/service-account-token')
      await this.fillServiceAccountToken(obj);
    if (r.kind === 'CertificateSigningRequest') prepareCsrCreate(r, obj, t.user);
    if (r.kind === 'CustomResourceDefinition') {
      validateCrd(r, obj);
      obj.status = crdStatus(obj);
    }
    if (dryRun) return obj;
    try {
      const value = Buffer.from(JSON.stringify(obj));
      const kv = await this.o.storage.create(storageKey(r, meta.namespace, meta.name), value);
      this.created(r, obj, kv.key, value);
      return this.decode({ ...kv, value });
    } catch (err) {
      if (err instanceof StorageError && err.code === 'exists') throw alreadyExists(r, meta.name);
      throw err;
    }
  }

  /** Read, change, write with the read revision; a PUT carrying a stale resourceVersion conflicts. */
  private async update(
    t: Target,
    dryRun: boolean,
    change: (cur: KObject) => KObject,
    isPut: boolean,
  ): Promise<KObject> {
    const r = t.res;
    const key = storageKey(r, t.namespace, t.name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.o.storage.get(key);
      if (!kv) throw notFound(r, t.name!);
      const cur = this.decode(kv);
      const next = change(structuredClone(cur));
      if (typeof next !== 'object' || next === null) throw badRequest('the request body must be a JSON object');
      const asked = next.metadata?.resourceVersion;
      if (isPut && asked && asked !== String(kv.modRevision)) throw conflict(r, t.name!);
      if (next.metadata?.name !== undefined && next.metadata.name !== t.name)
        throw badRequest(
          `the name of the object (${next.metadata.name}) does not match the name on the URL (${t.name})`,
        );
      const merged: KObject = {
        ...next,
        apiVersion: apiVersionOf(r),
        kind: r.kind,
        metadata: {
          ...next.metadata,
          name: t.name,
          namespace: cur.metadata?.namespace,
          uid: cur.metadata?.uid,
          creationTimestamp: cur.metadata?.creationTimestamp,
          generation: cur.metadata?.generation,
        },
      };
      if (!r.namespaced) delete merged.metadata!.namespace;
      delete merged.metadata!.resourceVersion;
      validateLabels(r, t.name!, merged.metadata?.labels);
      // The status subresource changes only status; the main resource never changes status.
      if (t.subresource === 'status') merged.spec = cur.spec;
      else if ((r.subresources ?? []).includes('status')) merged.status = cur.status;
      if (r.kind === 'CertificateSigningRequest')
        Object.assign(merged, mergeCsrUpdate(r, t.subresource, cur, { ...merged, status: next.status }));
      applyDefaults(r, merged);
      if (t.subresource !== 'status') validateUpdate(r, cur, merged);
      validateForNodes(r, merged);
      checkEscalation(this.authz, t.user, r, merged);
      if (hasGeneration(r) && JSON.stringify(merged.spec) !== JSON.stringify(cur.spec))
        merged.metadata!.generation = (cur.metadata?.generation ?? 0) + 1;
      if (r.kind === 'Service') await this.services.allocate(merged, cur);
      if (dryRun) return { ...merged, metadata: { ...merged.metadata, resourceVersion: String(kv.modRevision) } };
      // A write that changes nothing is not stored (no new resourceVersion, no watch event), as in Kubernetes.
      const { resourceVersion: _rv, ...curMeta } = cur.metadata ?? {};
      if (canonicalJson(merged) === canonicalJson({ ...cur, metadata: curMeta })) return cur;
      // The last finalizer of an object being deleted is gone: the object goes.
      if (
        merged.metadata?.deletionTimestamp &&
        cur.metadata?.finalizers?.length &&
        !merged.metadata.finalizers?.length
      ) {
        await this.o.storage.delete(key, kv.modRevision);
        return merged;
      }
      try {
        const value = Buffer.from(JSON.stringify(merged));
        const written = await this.o.storage.update(key, value, kv.modRevision);
        if (key.startsWith(RBAC_PREFIX)) this.authz.observe(key, value);
        if (key.startsWith(CRD_PREFIX)) this.crds.observe(key, value);
        return { ...merged, metadata: { ...merged.metadata, resourceVersion: String(written.modRevision) } };
      } catch (err) {
        // A PATCH retries on a concurrent write, as Kubernetes does; a PUT with a resourceVersion does not.
        if (err instanceof StorageError && err.code === 'conflict' && (!isPut || !asked) && attempt < 5) continue;
        if (err instanceof StorageError && err.code === 'conflict') throw conflict(r, t.name!);
        throw err;
      }
    }
  }

  /**
   * DELETE with Kubernetes' options: preconditions (uid, resourceVersion), gracePeriodSeconds (a pod on a
   * node is only marked, for its node agent to stop it), and propagationPolicy for the objects that name
   * this one as owner: Background deletes them after it, Foreground before it (the owner waits with the
   * `foregroundDeletion` finalizer), Orphan leaves them without the owner reference. Finalizers hold an
   * object with a deletionTimestamp until they are cleared; a namespace turns Terminating while its
   * contents are removed.
   */
  private async remove(t: Target, dryRun: boolean, options: DeleteOptions = {}): Promise<KObject> {
    // A write racing the deletion (a node agent updating status) is read again, as Kubernetes retries.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.removeOnce(t, dryRun, options);
      } catch (err) {
        if (err instanceof ApiError && err.reason === 'Conflict' && !options.preconditions && attempt < 5) continue;
        throw err;
      }
    }
  }

  private async removeOnce(t: Target, dryRun: boolean, options: DeleteOptions): Promise<KObject> {
    const r = t.res;
    const key = storageKey(r, t.namespace, t.name);
    const kv = await this.o.storage.get(key);
    if (!kv) throw notFound(r, t.name!);
    const obj = this.decode(kv);
    const pre = options.preconditions ?? {};
    if (pre.uid && pre.uid !== obj.metadata?.uid)
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${r.plural} "${t.name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata?.uid}`,
        { name: t.name, group: r.group, kind: r.plural },
      );
    if (pre.resourceVersion && pre.resourceVersion !== obj.metadata?.resourceVersion)
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${r.plural} "${t.name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata?.resourceVersion}`,
        { name: t.name, group: r.group, kind: r.plural },
      );
    if (dryRun) return obj;
    const policy = options.propagationPolicy ?? (options.orphanDependents ? 'Orphan' : 'Background');
    if (!['Background', 'Foreground', 'Orphan'].includes(policy))
      throw badRequest(`unsupported propagationPolicy "${policy}": must be Background, Foreground or Orphan`);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const mark = async (change: (m: NonNullable<KObject['metadata']>) => void): Promise<KObject> => {
      const next = structuredClone(obj);
      next.metadata ??= {};
      next.metadata.deletionTimestamp ??= now;
      change(next.metadata);
      delete next.metadata.resourceVersion;
      const w = await this.o.storage
        .update(key, Buffer.from(JSON.stringify(next)), kv.modRevision)
        .catch((err: unknown) => {
          if (err instanceof StorageError && err.code === 'conflict') throw conflict(r, t.name!);
          throw err;
        });
      return { ...next, metadata: { ...next.metadata, resourceVersion: String(w.modRevision) } };
    };
    if (r.plural === 'namespaces') {
      if (obj.status?.phase === 'Terminating') return obj;
      const marked = await mark(() => undefined);
      marked.status = { ...marked.status, phase: 'Terminating' };
      await this.o.storage.update(
        key,
        Buffer.from(JSON.stringify({ ...marked, metadata: { ...marked.metadata, resourceVersion: undefined } })),
        Number(marked.metadata!.resourceVersion),
      );
      void this.finishNamespace(t.name!).catch((err: unknown) =>
        this.o.logger.error({ err: String(err), namespace: t.name }, 'namespace removal failed'),
      );
      return marked;
    }
    if (obj.metadata?.finalizers?.length) return obj.metadata.deletionTimestamp ? obj : mark(() => undefined);
    if (
      r.kind === 'Pod' &&
      (obj.spec as { nodeName?: string } | undefined)?.nodeName &&
      options.gracePeriodSeconds !== 0
    ) {
      if (obj.metadata?.deletionTimestamp) return obj;
      const grace =
        options.gracePeriodSeconds ??
        Number((obj.spec as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds ?? 30);
      return mark((m) => {
        m.deletionGracePeriodSeconds = grace;
      });
    }
    const uid = obj.metadata!.uid!;
    if (policy === 'Foreground') {
      const marked = await mark((m) => {
        m.finalizers = ['foregroundDeletion'];
      });
      void this.collectDependents(uid, t.namespace, 'Foreground')
        .then(() =>
          this.update(
            t,
            false,
            (cur) => ({
              ...cur,
              metadata: {
                ...cur.metadata,
                finalizers: (cur.metadata?.finalizers ?? []).filter((f) => f !== 'foregroundDeletion'),
              },
            }),
            false,
          ),
        )
        .catch((err: unknown) => this.o.logger.error({ err: String(err), key }, 'foreground deletion failed'));
      return marked;
    }
    if (policy === 'Orphan') await this.orphanDependents(uid, t.namespace);
    await this.o.storage.delete(key, kv.modRevision).catch((err: unknown) => {
      if (err instanceof StorageError && err.code === 'conflict') throw conflict(r, t.name!);
      if (err instanceof StorageError && err.code === 'notFound') throw notFound(r, t.name!);
      throw err;
    });
    if (key.startsWith(RBAC_PREFIX)) this.authz.observe(key, undefined);
    if (key.startsWith(CRD_PREFIX)) {
      this.crds.observe(key, undefined);
      // The custom objects go with their definition (never a built-in group's, whatever a stored CRD says).
      const spec = (obj.spec ?? {}) as { group?: string; names?: { plural?: string } };
      if (servableGroup(spec.group) && spec.names?.plural && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(spec.names.plural)) {
        const prefix = `/registry/${spec.group}/${spec.names.plural}/`;
        for (const item of (await this.o.storage.list(prefix)).kvs)
          await this.o.storage.delete(item.key).catch(() => undefined);
      }
    }
    if (policy === 'Background')
      void this.collectDependents(uid, t.namespace, 'Background').catch((err: unknown) =>
        this.o.logger.error({ err: String(err), key }, 'garbage collection failed'),
      );
    return obj;
  }

  /** Every stored object (in `namespace` and cluster-wide) whose ownerReferences name `uid`. */
  private async dependents(
    uid: string,
    namespace: string | undefined,
  ): Promise<Array<{ t: Target; obj: KObject; kv: KeyValue }>> {
    const out: Array<{ t: Target; obj: KObject; kv: KeyValue }> = [];
    const seen = new Set<string>();
    for (const res of this.allResources()) {
      if (res.review || (res.namespaced && !namespace)) continue;
      const prefix = storageKey(res, res.namespaced ? namespace : undefined);
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      for (const kv of (await this.o.storage.list(prefix)).kvs) {
        const obj = this.decode(kv);
        if (
          obj.metadata?.ownerReferences &&
          (obj.metadata.ownerReferences as Array<{ uid?: string }>).some((o) => o.uid === uid)
        ) {
          out.push({ t: { res, namespace: obj.metadata.namespace, name: obj.metadata.name }, obj, kv });
        }
      }
    }
    return out;
  }

  private async collectDependents(
    uid: string,
    namespace: string | undefined,
    policy: 'Background' | 'Foreground',
  ): Promise<void> {
    for (const d of await this.dependents(uid, namespace)) {
      await this.remove(d.t, false, { propagationPolicy: policy }).catch((err: unknown) => {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      });
      if (policy === 'Foreground') await this.waitGone(storageKey(d.t.res, d.t.namespace, d.t.name));
    }
  }

  private async orphanDependents(uid: string, namespace: string | undefined): Promise<void> {
    for (const d of await this.dependents(uid, namespace)) {
      await this.update(
        d.t,
        false,
        (cur) => {
          const left = (cur.metadata?.ownerReferences as Array<{ uid?: string }> | undefined)?.filter(
            (o) => o.uid !== uid,
          );
          const metadata = { ...cur.metadata, ownerReferences: left };
          if (!left?.length) delete metadata.ownerReferences;
          return { ...cur, metadata };
        },
        false,
      );
    }
  }

  private async waitGone(key: string): Promise<void> {
    for (let i = 0; i < 600 && (await this.o.storage.get(key)); i++) await new Promise((r) => setTimeout(r, 100));
  }

  /** Remove what a Terminating namespace holds, then the namespace itself. */
  private async finishNamespace(name: string): Promise<void> {
    const seen = new Set<string>();
    for (const res of this.allResources().filter((x) => x.namespaced && !x.review)) {
      const prefix = storageKey(res, name);
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      for (const item of (await this.o.storage.list(prefix)).kvs) {
        const objName = item.key.slice(prefix.length);
        await this.remove({ res, namespace: name, name: objName }, false, { gracePeriodSeconds: 0 }).catch(
          () => undefined,
        );
      }
    }
    // Objects held by finalizers keep the namespace until they are gone.
    for (let i = 0; i < 3000; i++) {
      let left = 0;
      for (const prefix of seen) left += (await this.o.storage.list(prefix, { limit: 1 })).kvs.length;
      if (!left) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await this.o.storage.delete(storageKey(resource('namespaces'), undefined, name)).catch(() => undefined);
  }

  private selectors(q: URLSearchParams): { labels: Selector; fields: Selector } {
    try {
      return {
        labels: parseLabelSelector(q.get('labelSelector') ?? ''),
        fields: parseFieldSelector(q.get('fieldSelector') ?? ''),
      };
    } catch (err) {
      throw badRequest((err as Error).message);
    }
  }

  private async listObjects(
    q: URLSearchParams,
    t: Target,
  ): Promise<{ items: KObject[]; revision: number; continueToken?: string }> {
    const { labels, fields } = this.selectors(q);
    const limit = Number(q.get('limit') ?? 0) || 0;
    let startKey: string | undefined;
    let revision: number | undefined =
      q.get('resourceVersion') && q.get('resourceVersionMatch') === 'Exact'
        ? Number(q.get('resourceVersion'))
        : undefined;
    const prefix = storageKey(t.res, t.namespace);
    const cont = q.get('continue');
    if (cont) ({ startKey, revision } = decodeContinue(cont, prefix));
    const items: KObject[] = [];
    let rev = 0;
    let next: string | undefined = startKey;
    // Selectors filter after reading, so pages are filled by reading on until the limit is met.
    for (;;) {
      const page = await this.o.storage.list(prefix, {
        revision,
        limit: limit ? limit - items.length : 0,
        startKey: next,
      });
      rev = page.revision;
      revision = page.revision;
      for (const kv of page.kvs) {
        const obj = this.decode(kv);
        if (labels(obj.metadata?.labels ?? {}) && fields(fieldSet(obj))) items.push(obj);
      }
      next = page.kvs.length ? page.kvs.at(-1)!.key + '\0' : next;
      if (!page.more) return { items, revision: rev };
      if (limit && items.length >= limit)
        return { items, revision: rev, continueToken: encodeContinue(next!, prefix, rev) };
    }
  }

  private async list(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, t: Target): Promise<void> {
    const { items, revision, continueToken } = await this.listObjects(q, t);
    const list = {
      kind: `${t.res.kind}List`,
      apiVersion: apiVersionOf(t.res),
      metadata: { resourceVersion: String(revision), ...(continueToken ? { continue: continueToken } : {}) },
      items,
    };
    if (wantsTable(req))
      return send(res, 200, { ...tableFor(t.res, items, String(revision)), metadata: list.metadata });
    send(res, 200, list);
  }

  /** A watch: newline-terminated JSON events from a revision on (with the current objects first when none is given). */
  private async watch(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, t: Target): Promise<void> {
    const { labels, fields } = this.selectors(q);
    const rvParam = q.get('resourceVersion');
    const table = wantsTable(req);
    const match = (o: KObject): boolean => labels(o.metadata?.labels ?? {}) && fields(fieldSet(o));
    let from: number;
    const initial: KObject[] = [];
    if (!rvParam || rvParam === '0') {
      const { items, revision } = await this.listObjects(
        new URLSearchParams({
          labelSelector: q.get('labelSelector') ?? '',
          fieldSelector: q.get('fieldSelector') ?? '',
        }),
        t,
      );
      initial.push(...items);
      from = revision;
    } else {
      from = Number(rvParam);
      if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resourceVersion: ${rvParam}`);
      const current = await this.o.storage.revision();
      if (from > current) from = current;
    }
    const prefix = storageKey(t.res, t.namespace);
    const nameFilter = t.name;
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache',
    });
    // Headers go out now: a client waits for them before it reads events, and there may be none for a while.
    res.flushHeaders();
    const write = (type: string, obj: unknown): void => {
      if (!res.writableEnded) res.write(JSON.stringify({ type, object: obj }) + '\n');
    };
    const emit = (type: string, obj: KObject): void =>
      write(type, table ? tableFor(t.res, [obj], String(obj.metadata?.resourceVersion ?? '')) : obj);
    for (const o of initial) if (!nameFilter || o.metadata?.name === nameFilter) emit('ADDED', o);
    const w = this.o.storage.watch(
      prefix,
      from,
      (e) => {
        const change = this.sharedEvent(e.kv);
        const obj = change.obj;
        if (nameFilter && obj.metadata?.name !== nameFilter) return;
        const was = e.prev ? match(this.sharedEvent(e.prev).obj) : false;
        const is = match(obj);
        const type =
          e.type === 'delete'
            ? is
              ? 'DELETED'
              : undefined
            : is
              ? was || (e.prev && e.kv.createRevision !== e.kv.modRevision)
                ? 'MODIFIED'
                : 'ADDED'
              : was
                ? 'DELETED'
                : undefined;
        if (!type) return;
        if (table) return emit(type, obj);
        if (!res.writableEnded) res.write(change.line(type));
      },
      (err) => {
        write('ERROR', new ApiError(410, 'Expired', `too old resource version: ${from} (${err.message})`).status());
        res.end();
      },
    );
    const timeout = Number(q.get('timeoutSeconds') ?? 0) || 1800;
    const timer = setTimeout(() => res.end(), timeout * 1000);
    const bookmarks =
      q.get('allowWatchBookmarks') === 'true'
        ? setInterval(() => {
            void this.o.storage.revision().then((rev) =>
              write('BOOKMARK', {
                kind: t.res.kind,
                apiVersion: apiVersionOf(t.res),
                metadata: { resourceVersion: String(rev) },
              }),
            );
          }, 30000)
        : undefined;
    const stop = (): void => {
      w.cancel();
      clearTimeout(timer);
      if (bookmarks) clearInterval(bookmarks);
    };
    res.on('close', stop);
    res.on('finish', stop);
  }
}

function wantsTable(req: IncomingMessage): boolean {
  return /as=Table/.test(req.headers.accept ?? '');
}

/** The fields field selectors can use. */
function fieldSet(o: KObject): Record<string, string> {
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  const status = (o.status ?? {}) as Record<string, unknown>;
  const involved = (o.involvedObject ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {
    'metadata.name': o.metadata?.name ?? '',
    'metadata.namespace': o.metadata?.namespace ?? '',
  };
  if (typeof spec.nodeName === 'string') out['spec.nodeName'] = spec.nodeName;
  if (typeof status.phase === 'string') out['status.phase'] = status.phase;
  for (const [k, v] of Object.entries(involved)) if (typeof v === 'string') out[`involvedObject.${k}`] = v;
  if (typeof o.type === 'string') out.type = o.type;
  if (typeof o.reason === 'string') out.reason = o.reason;
  return out;
}

function scaleOf(o: KObject): KObject {
  const spec = (o.spec ?? {}) as { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  const selector = Object.entries(spec.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: o.metadata?.name,
      namespace: o.metadata?.namespace,
      uid: o.metadata?.uid,
      resourceVersion: o.metadata?.resourceVersion,
      creationTimestamp: o.metadata?.creationTimestamp,
    },
    spec: { replicas: spec.replicas ?? 0 },
    status: { replicas: Number((o.status as { replicas?: number } | undefined)?.replicas ?? 0), selector },
  };
}

function withScale(cur: KObject, scale: KObject): KObject {
  const replicas = (scale.spec as { replicas?: number } | undefined)?.replicas;
  if (typeof replicas !== 'number' || replicas < 0)
    throw new ApiError(
      422,
      'Invalid',
      `Scale "${cur.metadata?.name}" is invalid: spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`,
    );
  return {
    ...cur,
    metadata: { ...cur.metadata, resourceVersion: scale.metadata?.resourceVersion ?? cur.metadata?.resourceVersion },
    spec: { ...cur.spec, replicas },
  };
}

/**
 * Paging tokens as Kubernetes makes them: the revision and the next key relative to the listed prefix,
 * so a token can only continue inside the collection the request names (and was authorized for): a
 * forged or altered token is a 400, never a read of another resource's keys.
 */
function encodeContinue(nextKey: string, prefix: string, revision: number): string {
  return Buffer.from(
    JSON.stringify({ v: 'meta.k8s.io/v1', rv: revision, start: nextKey.slice(prefix.length) }),
  ).toString('base64url');
}

function decodeContinue(token: string, prefix: string): { startKey: string; revision: number } {
  let parsed: { v?: unknown; rv?: unknown; start?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString()) as typeof parsed;
  } catch {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  if (
    parsed?.v !== 'meta.k8s.io/v1' ||
    typeof parsed.start !== 'string' ||
    !Number.isSafeInteger(parsed.rv) ||
    (parsed.rv as number) <= 0
  ) {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  // As Kubernetes: the key is relative to the listed prefix, already clean, and never climbs out of it.
  const start = parsed.start;
  if (start !== '' && (path.posix.normalize(start) !== start || start.startsWith('/') || start.endsWith('/')))
    throw badRequest(`continue key is not valid: ${start}`);
  if (start === '..' || start.startsWith('../')) throw badRequest('continue key is not valid: cannot contain ..');
  return { startKey: prefix + start, revision: parsed.rv as number };
}
