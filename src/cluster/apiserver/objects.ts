/**
 * Object semantics of the Kubernetes API: Status errors as kubectl words them, name validation, and
 * the defaults Kubernetes applies to the kinds Gantry's first controllers and users touch.
 */
import type { ResourceType } from './resources.js';

export type KObject = {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
};

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  status(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

const groupOf = (r: ResourceType): string => r.group;
const resName = (r: ResourceType): string => (r.group ? `${r.plural}.${r.group}` : r.plural);

export const notFound = (r: ResourceType, name: string): ApiError =>
  new ApiError(404, 'NotFound', `${resName(r)} "${name}" not found`, { name, group: groupOf(r), kind: r.plural });
export const alreadyExists = (r: ResourceType, name: string): ApiError =>
  new ApiError(409, 'AlreadyExists', `${resName(r)} "${name}" already exists`, {
    name,
    group: groupOf(r),
    kind: r.plural,
  });
export const conflict = (r: ResourceType, name: string): ApiError =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${resName(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: groupOf(r), kind: r.plural },
  );
export const badRequest = (msg: string): ApiError => new ApiError(400, 'BadRequest', msg);

export function invalid(
  r: ResourceType,
  name: string,
  causes: Array<{ field: string; message: string; value?: unknown }>,
): ApiError {
  const text = causes
    .map((c) => `${c.field}: ${c.value !== undefined ? `Invalid value: ${JSON.stringify(c.value)}: ` : ''}${c.message}`)
    .join(', ');
  return new ApiError(
    422,
    'Invalid',
    `${r.group ? `${r.kind}.${r.group}` : r.kind} "${name}" is invalid: ${causes.length > 1 ? `[${text}]` : text}`,
    {
      name,
      group: groupOf(r),
      kind: r.kind,
      causes: causes.map((c) => ({
        reason: 'FieldValueInvalid',
        message: `${c.value !== undefined ? `Invalid value: ${JSON.stringify(c.value)}: ` : ''}${c.message}`,
        field: c.field,
      })),
    },
  );
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes' name rules: most kinds take a DNS subdomain; namespaces and services a DNS label. */
export function validateName(r: ResourceType, name: string): void {
  // RBAC objects (and a few others) only need a name usable as a path segment: `system:basic-user`.
  if (r.group === 'rbac.authorization.k8s.io') {
    const bad =
      name === '.' || name === '..'
        ? `may not be '${name}'`
        : /[/%]/.test(name)
          ? `may not contain '${name.includes('/') ? '/' : '%'}'`
          : undefined;
    if (bad) throw invalid(r, name, [{ field: 'metadata.name', value: name, message: bad }]);
    return;
  }
  const label = r.plural === 'namespaces' || r.plural === 'services';
  if (label ? !DNS1123_LABEL.test(name) || name.length > 63 : !DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
    const rule = label
      ? `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
      : `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;
    throw invalid(r, name, [{ field: 'metadata.name', value: name, message: rule }]);
  }
}

export function validateLabels(r: ResourceType, name: string, labels: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    const key = k.includes('/') ? k.slice(k.indexOf('/') + 1) : k;
    if (!/^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(key) || key.length > 63)
      throw invalid(r, name, [
        {
          field: 'metadata.labels',
          value: k,
          message: `name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
        },
      ]);
    if (typeof v !== 'string' || (v !== '' && !/^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(v)) || v.length > 63)
      throw invalid(r, name, [
        {
          field: 'metadata.labels',
          value: v,
          message: `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
        },
      ]);
  }
}

type PodSpec = {
  containers?: Array<Record<string, unknown>>;
  initContainers?: Array<Record<string, unknown>>;
  [k: string]: unknown;
};

function defaultPodSpec(spec: PodSpec): void {
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    const image = String(c.image ?? '');
    const tag = image.includes('@') ? 'digest' : (/:([^/]+)$/.exec(image)?.[1] ?? 'latest');
    c.imagePullPolicy ??= tag === 'latest' ? 'Always' : 'IfNotPresent';
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    c.resources ??= {};
    for (const p of (c.ports as Array<Record<string, unknown>> | undefined) ?? []) p.protocol ??= 'TCP';
  }
}

/** Defaults of the kinds that have them, applied on create (and update). */
export function applyDefaults(r: ResourceType, obj: KObject): void {
  const spec = (obj.spec ??= {}) as Record<string, unknown>;
  switch (r.kind) {
    case 'Pod':
      defaultPodSpec(spec as PodSpec);
      obj.status ??= { phase: 'Pending', qosClass: 'BestEffort' };
      break;
    case 'Deployment':
    case 'ReplicaSet':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicationController': {
      if (r.kind !== 'DaemonSet') spec.replicas ??= 1;
      spec.revisionHistoryLimit ??= 10;
      if (r.kind === 'Deployment') {
        spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
        spec.progressDeadlineSeconds ??= 600;
      }
      const template = spec.template as { spec?: PodSpec } | undefined;
      if (template?.spec) defaultPodSpec(template.spec);
      obj.status ??= {};
      break;
    }
    case 'Job': {
      spec.backoffLimit ??= 6;
      spec.completions ??= 1;
      spec.parallelism ??= 1;
      const template = spec.template as { spec?: PodSpec } | undefined;
      if (template?.spec) defaultPodSpec(template.spec);
      break;
    }
    case 'Service':
      spec.type ??= 'ClusterIP';
      spec.sessionAffinity ??= 'None';
      for (const p of (spec.ports as Array<Record<string, unknown>> | undefined) ?? []) {
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port;
      }
      obj.status ??= { loadBalancer: {} };
      break;
    case 'Namespace':
      spec.finalizers ??= ['kubernetes'];
      obj.status ??= { phase: 'Active' };
      break;
    case 'Secret': {
      // stringData is write-only: merged into data, as Kubernetes stores it.
      delete obj.spec;
      obj.type ??= 'Opaque';
      const stringData = obj.stringData as Record<string, unknown> | undefined;
      if (stringData && typeof stringData === 'object') {
        const data = { ...((obj.data as Record<string, string> | undefined) ?? {}) };
        for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(String(v)).toString('base64');
        obj.data = data;
      }
      delete obj.stringData;
      break;
    }
    default:
      if (!Object.keys(spec).length) delete obj.spec;
  }
}

/** Kinds whose spec changes bump metadata.generation. */
export function hasGeneration(r: ResourceType): boolean {
  return (
    !!r.custom ||
    [
      'Deployment',
      'ReplicaSet',
      'StatefulSet',
      'DaemonSet',
      'ReplicationController',
      'Job',
      'CronJob',
      'HorizontalPodAutoscaler',
      'Pod',
      'Service',
      'Ingress',
      'NetworkPolicy',
      'CustomResourceDefinition',
    ].includes(r.kind)
  );
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * The fields Kubernetes refuses to change on update (a Service's clusterIP is the allocator's): workload
 * selectors, the data of an immutable ConfigMap or Secret, a binding's roleRef, a pod's spec (but images and a few others),
 * a StatefulSet's spec (but replicas, template, updateStrategy, ...), a Job's template.
 */
export function validateUpdate(r: ResourceType, cur: KObject, next: KObject): void {
  const name = cur.metadata?.name ?? '';
  const was = (cur.spec ?? {}) as Record<string, unknown>;
  const now = (next.spec ?? {}) as Record<string, unknown>;
  const immutable = (field: string, value: unknown): never => {
    throw invalid(r, name, [{ field, value: value ?? null, message: 'field is immutable' }]);
  };
  switch (r.kind) {
    case 'Deployment':
    case 'ReplicaSet':
    case 'DaemonSet':
      if (was.selector && !same(was.selector, now.selector)) immutable('spec.selector', now.selector);
      break;
    case 'StatefulSet': {
      const mutable = [
        'replicas',
        'template',
        'updateStrategy',
        'persistentVolumeClaimRetentionPolicy',
        'minReadySeconds',
        'ordinals',
      ];
      const rest = (s: Record<string, unknown>): Record<string, unknown> =>
        Object.fromEntries(Object.entries(s).filter(([k]) => !mutable.includes(k)));
      if (!same(rest(was), rest(now)))
        throw invalid(r, name, [
          {
            field: 'spec',
            message: `Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden`,
          },
        ]);
      break;
    }
    case 'Job':
      if (was.selector && !same(was.selector, now.selector)) immutable('spec.selector', now.selector);
      if (!same(was.template, now.template)) immutable('spec.template', now.template);
      break;
    case 'ConfigMap':
    case 'Secret':
      if (cur.immutable === true) {
        if (next.immutable !== true)
          throw invalid(r, name, [
            { field: 'immutable', message: 'Forbidden: field is immutable when `immutable` is set' },
          ]);
        for (const f of ['data', 'binaryData', 'stringData'])
          if (f !== 'stringData' && !same(cur[f], next[f]))
            throw invalid(r, name, [{ field: f, message: 'Forbidden: field is immutable when `immutable` is set' }]);
      }
      break;
    case 'RoleBinding':
    case 'ClusterRoleBinding':
      if (!same(cur.roleRef, next.roleRef))
        throw invalid(r, name, [{ field: 'roleRef', value: next.roleRef, message: 'cannot change roleRef' }]);
      break;
    case 'Pod': {
      // Images, the deadline and added tolerations may change; the rest of a pod's spec is fixed.
      const fixed = (s: Record<string, unknown>): unknown => ({
        ...s,
        containers: ((s.containers as Array<Record<string, unknown>> | undefined) ?? []).map((c) => ({
          ...c,
          image: undefined,
        })),
        initContainers: ((s.initContainers as Array<Record<string, unknown>> | undefined) ?? []).map((c) => ({
          ...c,
          image: undefined,
        })),
        activeDeadlineSeconds: undefined,
        tolerations: undefined,
        terminationGracePeriodSeconds: undefined,
      });
      if (!same(fixed(was), fixed(now))) {
        throw invalid(r, name, [
          {
            field: 'spec',
            message:
              'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
          },
        ]);
      }
      break;
    }
  }
}
