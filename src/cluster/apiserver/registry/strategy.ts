/**
 * What the generic store asks of each resource, after Kubernetes' `rest.RESTCreateStrategy` and friends
 * (`pkg/registry/<group>/<kind>/strategy.go`): defaults, validation on create and update, what a status
 * write may change, whether spec changes bump the generation, the printer columns, the fields field
 * selectors see, hooks around storage, and the resource's own subresources. A kind with no special
 * behaviour needs only its `resource`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../../common/log.js';
import type { Storage } from '../../storage/types.js';
import type { Authenticator, UserInfo } from '../auth.js';
import type { KObject } from '../objects.js';
import type { Authorizer } from '../rbac.js';
import type { ResourceType } from '../resources.js';
import type { ServiceAllocator } from '../services.js';
import type { Column } from '../tables.js';
import type { ClusterTls } from '../tls.js';
import type { CustomResources } from '../crds.js';
import type { NamespacePhases } from '../namespaces.js';

/** Who writes, and through which subresource. */
export interface WriteContext {
  user?: UserInfo;
  subresource?: string;
}

/** DeleteOptions from the body (kubectl sends one) with query parameters taking precedence. */
export interface DeleteOptions {
  propagationPolicy?: string;
  gracePeriodSeconds?: number;
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

/** A request addressed to one resource (and maybe one object, maybe a subresource of it). */
export interface Target {
  res: ResourceType;
  user?: UserInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** What follows a `proxy` subresource in the path (`metrics/cadvisor`), still URL-encoded. */
  subpath?: string;
}

/** The parts of the server a strategy or subresource may use. */
export interface RegistryContext {
  storage: Storage;
  services: ServiceAllocator;
  authn: Authenticator;
  authz: Authorizer;
  crds: CustomResources;
  /** Namespaces' phases, for admitting creates into them. */
  namespaces: NamespacePhases;
  tls: ClusterTls;
  logger: Logger;
  /** The generic store, for subresources that read or delete (eviction, token, binding). */
  store: StoreApi;
  /** Strategy of a resource, for subresources that touch another kind. */
  resource(plural: string): ResourceType;
}

/** The store operations subresources build on. */
export interface StoreApi {
  read(t: Target): Promise<KObject>;
  create(t: Target, body: KObject, dryRun?: boolean): Promise<KObject>;
  remove(t: Target, dryRun: boolean, options?: DeleteOptions): Promise<KObject>;
  update(t: Target, dryRun: boolean, change: (cur: KObject) => KObject, isPut: boolean): Promise<KObject>;
}

/** A subresource's request, already authorized: the parsed body for writes, the query for reads. */
export interface SubresourceRequest {
  t: Target;
  method: string;
  query: URLSearchParams;
  dryRun: boolean;
  body: () => Promise<KObject>;
  req: IncomingMessage;
  res: ServerResponse;
}

/**
 * A subresource with its own handler (binding, eviction, log, token): answers with `[code, body]`, or
 * writes the response itself and answers `undefined` (a streamed log).
 */
export interface Subresource {
  /** The kind discovery lists for it (`Binding`, `Eviction`, ...); the resource's own when absent. */
  kind?: string;
  /** The group and version of that kind when not the resource's (`policy/v1` for an Eviction). */
  groupVersion?: { group: string; version: string };
  verbs: string[];
  handle(ctx: RegistryContext, r: SubresourceRequest): Promise<[number, unknown] | undefined>;
}

export interface Strategy {
  resource: ResourceType;
  /** Defaults set on create and on every update, as Kubernetes' defaulting functions. */
  defaults?(obj: KObject): void;
  /** Problems with a new or changed object (throws an `invalid` 422). */
  validate?(obj: KObject, ctx: RegistryContext & WriteContext): void;
  /** What may not change on update (immutable fields); not called for status writes. */
  validateUpdate?(cur: KObject, next: KObject): void;
  /** Spec changes bump `metadata.generation`. */
  generation?: boolean;
  /** Work before a create is stored (allocate a clusterIP, fill a token, record the requester). */
  prepareCreate?(obj: KObject, ctx: RegistryContext & WriteContext): Promise<void> | void;
  /** Work before an update is stored; `next` may be changed in place. */
  prepareUpdate?(cur: KObject, next: KObject, ctx: RegistryContext & WriteContext): Promise<void> | void;
  /**
   * The object an update leaves, from `merged` (the request with identity kept, and the generic status
   * rule applied: the status subresource keeps the spec, any other write keeps the status) and what was
   * `requested` — for kinds whose subresources change other parts (a CSR's approval, a namespace's
   * finalizers).
   */
  mergeUpdate?(cur: KObject, merged: KObject, subresource: string | undefined, requested: KObject): KObject;
  /**
   * Deletion of this kind marks instead of removing (a pod on a node waits for its agent, a namespace
   * for its contents to go): the change to store with the deletionTimestamp, or undefined to go on with
   * the generic deletion.
   */
  gracefulDelete?(obj: KObject, options: DeleteOptions): ((next: KObject) => void) | undefined;
  /** Finalizers kept outside `metadata.finalizers` (a namespace's `spec.finalizers`). */
  pendingFinalizers?(obj: KObject): string[];
  /** After a stored write (`value` undefined: deleted), to keep in-memory views (RBAC, CRDs) current. */
  observe?(ctx: RegistryContext, key: string, value: Buffer | undefined, obj: KObject): Promise<void> | void;
  /** The columns of `kubectl get`; name and age when absent. */
  columns?: Column[];
  /** Fields besides metadata.name and metadata.namespace that field selectors may use. */
  fields?(obj: KObject): Record<string, string>;
  /** A review kind (access checks, token reviews): answered at once from the request, never stored. */
  review?(ctx: RegistryContext, t: Target, body: KObject): Promise<KObject>;
  /** A kind computed on request, never stored (NodeMetrics, PodMetrics): its get and list. */
  computed?: {
    get(ctx: RegistryContext, t: Target): Promise<KObject>;
    list(ctx: RegistryContext, t: Target): Promise<KObject[]>;
  };
  /**
   * A version served beside the one the kind is stored in (HorizontalPodAutoscalers: v1 beside the
   * stored v2): what is written through it is converted to `storage`'s form, what is read back from it.
   */
  conversion?: { storage: ResourceType; toStorage(obj: KObject): KObject; fromStorage(obj: KObject): KObject };
  /** Subresources with their own handler; `status`, `scale`, `approval` and `finalize` are generic updates. */
  subresources?: Record<string, Subresource>;
}
