/**
 * The Node authorizer (Kubernetes' plugin/pkg/auth/authorizer/node, with NodeRestriction's limits): a
 * node agent, `system:node:<name>` in `system:nodes`, may do what running its pods needs and no more:
 * read nodes, pods, services and endpoints; write its own Node, Lease, the status of pods bound to it
 * and events; read a Secret, ConfigMap or PersistentVolumeClaim only while a pod bound to it refers to
 * it, and a PersistentVolume only while such a claim is bound to it; ask tokens for the ServiceAccounts
 * its pods run as; follow Ingresses and read the TLS Secrets they name (every node runs the ingress proxy); list and watch PersistentVolumes
 * and write the local-path ones made on it (to remove their folders); and ask for its own certificates. Which pod refers to what is kept from a storage watch of pods
 * (the authorizer's graph); a reference made a moment ago is also found by reading storage.
 */
import type { Logger } from '../../common/log.js';
import { LOCAL_PATH_NODE } from '../api/volume.js';
import { followPrefix } from '../storage/follow.js';
import type { Storage } from '../storage/types.js';
import type { UserInfo } from './auth.js';
import type { RequestAttributes } from './rbac.js';

const PODS_PREFIX = '/registry/core/pods/';
const CLAIMS_PREFIX = '/registry/core/persistentvolumeclaims/';
const VOLUMES_PREFIX = '/registry/core/persistentvolumes/';
const INGRESSES_PREFIX = '/registry/networking.k8s.io/ingresses/';
const NODE_USER = /^system:node:([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/;
const READ = ['get', 'list', 'watch'];

interface PodRefs {
  node?: string;
  namespace: string;
  serviceAccount: string;
  secrets: Set<string>;
  configmaps: Set<string>;
  persistentvolumeclaims: Set<string>;
}

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (typeof v === 'object' && v !== null ? (v as Obj) : {});
const asList = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(asObj) : []);

/** What a pod refers to: volumes (also projected), env and envFrom, image pull secrets. */
export function podRefs(pod: Obj): PodRefs {
  const meta = asObj(pod.metadata);
  const spec = asObj(pod.spec);
  const refs: PodRefs = {
    node: typeof spec.nodeName === 'string' ? spec.nodeName : undefined,
    namespace: String(meta.namespace ?? ''),
    serviceAccount: typeof spec.serviceAccountName === 'string' ? spec.serviceAccountName : 'default',
    secrets: new Set(),
    configmaps: new Set(),
    persistentvolumeclaims: new Set(),
  };
  const add = (set: Set<string>, name: unknown): void => {
    if (typeof name === 'string' && name) set.add(name);
  };
  for (const v of asList(spec.volumes)) {
    add(refs.secrets, asObj(v.secret).secretName);
    add(refs.configmaps, asObj(v.configMap).name);
    add(refs.persistentvolumeclaims, asObj(v.persistentVolumeClaim).claimName);
    for (const s of asList(asObj(v.projected).sources)) {
      add(refs.secrets, asObj(s.secret).name);
      add(refs.configmaps, asObj(s.configMap).name);
    }
  }
  for (const c of [...asList(spec.containers), ...asList(spec.initContainers), ...asList(spec.ephemeralContainers)]) {
    for (const e of asList(c.env)) {
      const from = asObj(e.valueFrom);
      add(refs.secrets, asObj(from.secretKeyRef).name);
      add(refs.configmaps, asObj(from.configMapKeyRef).name);
    }
    for (const f of asList(c.envFrom)) {
      add(refs.secrets, asObj(f.secretRef).name);
      add(refs.configmaps, asObj(f.configMapRef).name);
    }
  }
  for (const s of asList(spec.imagePullSecrets)) add(refs.secrets, s.name);
  return refs;
}

/** The node a user is, when it is one. */
export function nodeOf(user: UserInfo): string | undefined {
  if (!user.groups.includes('system:nodes')) return undefined;
  return NODE_USER.exec(user.username)?.[1];
}

export class NodeAuthorizer {
  /**
   * Each pod's references, or its stored bytes until a node's request first needs them: pods change far
   * more often (every create, binding and status write) than nodes ask about them.
   */
  private readonly pods = new Map<string, PodRefs | Buffer>();

  constructor(
    private readonly storage: Storage,
    private readonly logger: Logger,
  ) {}

  start(): Promise<void> {
    return followPrefix(this.storage, PODS_PREFIX, this, this.logger);
  }

  reset(): void {
    this.pods.clear();
  }

  observe(key: string, value: Buffer | undefined): void {
    const id = key.slice(PODS_PREFIX.length);
    if (!value) this.pods.delete(id);
    else this.pods.set(id, value);
  }

  private refsOf(id: string): PodRefs | undefined {
    const known = this.pods.get(id);
    if (!Buffer.isBuffer(known)) return known;
    const refs = podRefs(JSON.parse(known.toString()) as Obj);
    this.pods.set(id, refs);
    return refs;
  }

  private *allRefs(): Iterable<PodRefs> {
    for (const id of this.pods.keys()) yield this.refsOf(id)!;
  }

  /**
   * Whether node `node` may make the request: true or false for what this authorizer rules on,
   * undefined for the rest (left to RBAC).
   */
  async decide(node: string, a: RequestAttributes): Promise<boolean | undefined> {
    if (!a.resourceRequest) return undefined;
    const own = a.name === node;
    const group = a.apiGroup ?? '';
    const sub = a.subresource;
    switch (`${group}/${a.resource}`) {
      case '/nodes':
        if (READ.includes(a.verb)) return true;
        // A create names its object in the body: admitNodeWrite checks it is the node's own.
        if (a.verb === 'create') return !sub;
        return own && ['update', 'patch', 'delete'].includes(a.verb) && (!sub || sub === 'status');
      case 'coordination.k8s.io/leases':
        if (a.namespace !== 'kube-node-lease') return false;
        return a.verb === 'create' || (own && ['get', 'update', 'patch', 'delete'].includes(a.verb));
      case '/pods':
        if (!sub && READ.includes(a.verb)) return true;
        if ((!sub && a.verb === 'delete') || (sub === 'status' && ['update', 'patch'].includes(a.verb)))
          return (await this.pod(a.namespace, a.name))?.node === node;
        return false;
      case '/events':
      case 'events.k8s.io/events':
        return ['create', 'update', 'patch'].includes(a.verb);
      case '/services':
      case '/endpoints':
      case 'discovery.k8s.io/endpointslices':
        return READ.includes(a.verb) && !sub;
      case 'networking.k8s.io/ingresses':
      case 'networking.k8s.io/networkpolicies':
      case '/namespaces':
        // The node's ingress proxy follows every Ingress; its policy enforcement every policy and namespace.
        return READ.includes(a.verb) && !sub;
      case '/secrets':
      case '/configmaps':
      case '/persistentvolumeclaims':
        return (
          a.verb === 'get' &&
          !sub &&
          !!a.name &&
          ((await this.refersTo(
            node,
            a.namespace ?? '',
            a.resource as 'secrets' | 'configmaps' | 'persistentvolumeclaims',
            a.name,
          )) ||
            (a.resource === 'secrets' && (await this.ingressTlsSecret(a.namespace ?? '', a.name))))
        );
      case '/serviceaccounts':
        // Tokens for the accounts its pods run as (their projected API access), nothing else.
        if (sub !== 'token' || a.verb !== 'create' || !a.name) return false;
        return this.runsAs(node, a.namespace ?? '', a.name);
      case '/persistentvolumes':
        // Listed and watched for the local-path folders the node removes; written only when its own.
        if (sub) return false;
        if (a.verb === 'list' || a.verb === 'watch') return true;
        if (a.verb === 'get') return !!a.name && (await this.usesVolume(node, a.name));
        if (a.verb === 'update' || a.verb === 'patch') return !!a.name && (await this.ownsLocalVolume(node, a.name));
        return false;
      case 'certificates.k8s.io/certificatesigningrequests':
        if (sub === 'selfnodeclient' && a.verb === 'create') return true;
        return !sub && ['create', 'get', 'list', 'watch'].includes(a.verb);
      default:
        return undefined;
    }
  }

  /** A pod's references, from the graph or, when the watch has not brought it yet, from storage. */
  private async pod(namespace: string | undefined, name: string | undefined): Promise<PodRefs | undefined> {
    if (!namespace || !name) return undefined;
    const id = `${namespace}/${name}`;
    const known = this.refsOf(id);
    if (known) return known;
    const kv = await this.storage.get(PODS_PREFIX + id);
    return kv ? podRefs(JSON.parse(kv.value.toString()) as Obj) : undefined;
  }

  /** Whether an Ingress of the namespace serves TLS with Secret `name` (the node's ingress proxy reads it). */
  private async ingressTlsSecret(namespace: string, name: string): Promise<boolean> {
    for (const kv of (await this.storage.list(`${INGRESSES_PREFIX}${namespace}/`)).kvs) {
      const tlsList = asList(asObj((JSON.parse(kv.value.toString()) as Obj).spec).tls);
      if (tlsList.some((t) => t.secretName === name)) return true;
    }
    return false;
  }

  /** Whether a pod bound to the node runs as ServiceAccount `namespace/name`. */
  private async runsAs(node: string, namespace: string, name: string): Promise<boolean> {
    const matches = (p: PodRefs): boolean => p.node === node && p.namespace === namespace && p.serviceAccount === name;
    for (const p of this.allRefs()) if (matches(p)) return true;
    for (const kv of (await this.storage.list(`${PODS_PREFIX}${namespace}/`)).kvs)
      if (matches(podRefs(JSON.parse(kv.value.toString()) as Obj))) return true;
    return false;
  }

  /** Whether a pod bound to the node uses a claim bound to volume `name`. */
  private async usesVolume(node: string, name: string): Promise<boolean> {
    const claims = new Set<string>();
    for (const p of this.allRefs())
      if (p.node === node) for (const c of p.persistentvolumeclaims) claims.add(`${p.namespace}/${c}`);
    for (const claim of claims) {
      const kv = await this.storage.get(CLAIMS_PREFIX + claim);
      if (kv && asObj((JSON.parse(kv.value.toString()) as Obj).spec).volumeName === name) return true;
    }
    return false;
  }

  /** Whether volume `name` is a local-path volume made on the node. */
  private async ownsLocalVolume(node: string, name: string): Promise<boolean> {
    const kv = await this.storage.get(VOLUMES_PREFIX + name);
    if (!kv) return false;
    const annotations = asObj(asObj((JSON.parse(kv.value.toString()) as Obj).metadata).annotations);
    return annotations[LOCAL_PATH_NODE] === node;
  }

  private async refersTo(
    node: string,
    namespace: string,
    kind: 'secrets' | 'configmaps' | 'persistentvolumeclaims',
    name: string,
  ): Promise<boolean> {
    const matches = (p: PodRefs): boolean => p.node === node && p.namespace === namespace && p[kind].has(name);
    for (const p of this.allRefs()) if (matches(p)) return true;
    // A pod bound a moment ago may not have come through the watch yet.
    for (const kv of (await this.storage.list(`${PODS_PREFIX}${namespace}/`)).kvs)
      if (matches(podRefs(JSON.parse(kv.value.toString()) as Obj))) return true;
    return false;
  }
}

/**
 * NodeRestriction's part for creates, whose object is named in the body: a node creates only its own
 * Node and its own Lease. Answers the refusal message, or undefined when allowed.
 */
export function nodeWriteRefusal(
  node: string | undefined,
  resource: string,
  name: string | undefined,
): string | undefined {
  if (!node || (resource !== 'nodes' && resource !== 'leases') || name === node) return undefined;
  return `${resource} "${name ?? ''}" is forbidden: node "${node}" is not allowed to modify ${resource === 'nodes' ? 'node' : 'lease'} "${name ?? ''}"`;
}
