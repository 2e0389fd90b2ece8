/**
 * Decoding of `application/vnd.kubernetes.protobuf` request bodies into the JSON objects the rest of
 * the API server works with. kubectl 1.30+ sends typed requests (`create deployment`, `create namespace`,
 * `auth can-i`, ...) this way and does not retry in JSON when refused.
 *
 * The wire form is `k8s\0` then a runtime.Unknown message (typeMeta, raw, contentEncoding, contentType)
 * whose raw bytes are the object's message. The schema comes from the generated.proto files kubectl was
 * built with (see scripts/make-k8s-proto-schema.ts). Go writes every non-pointer field even when it holds
 * its zero value, where JSON would omit it; such zeroes are dropped, except in fields that are pointers in
 * Go, where zero and unset differ (`replicas: 0`).
 */
import protobuf from 'protobufjs';
import generated from './k8s-types.json' with { type: 'json' };

export class ProtobufError extends Error {}

const root = protobuf.Root.fromJSON(generated.schema as protobuf.INamespace);
const MAGIC = Buffer.from('k8s\0', 'latin1');
const UNKNOWN = root.lookupType('k8s.io.apimachinery.pkg.runtime.Unknown');
const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

/** Embedded Go structs (`json:",inline"`): their fields belong to the enclosing JSON object. */
const INLINE_TYPES = new Set([
  'VolumeSource',
  'PersistentVolumeSource',
  'EphemeralContainerCommon',
  'ProbeHandler',
  'LocalObjectReference',
  'IngressRuleValue',
]);
const INLINE_FIELDS = new Set([
  'volumeSource',
  'persistentVolumeSource',
  'ephemeralContainerCommon',
  'handler',
  'localObjectReference',
  'ingressRuleValue',
]);

/** Pointer fields of the Kubernetes types in which 0 or false is a value of its own. */
const ZERO_MEANINGFUL = new Set([
  'replicas',
  'automountServiceAccountToken',
  'enableServiceLinks',
  'terminationGracePeriodSeconds',
  'activeDeadlineSeconds',
  'revisionHistoryLimit',
  'progressDeadlineSeconds',
  'backoffLimit',
  'backoffLimitPerIndex',
  'parallelism',
  'completions',
  'suspend',
  'ttlSecondsAfterFinished',
  'startingDeadlineSeconds',
  'successfulJobsHistoryLimit',
  'failedJobsHistoryLimit',
  'runAsUser',
  'runAsGroup',
  'runAsNonRoot',
  'privileged',
  'allowPrivilegeEscalation',
  'readOnlyRootFilesystem',
  'fsGroup',
  'defaultMode',
  'mode',
  'optional',
  'immutable',
  'allocateLoadBalancerNodePorts',
  'deletionGracePeriodSeconds',
  'gracePeriodSeconds',
  'expirationSeconds',
  'shareProcessNamespace',
  'hostUsers',
  'setHostnameAsFQDN',
  'priority',
  'controller',
  'blockOwnerDeletion',
  'partition',
  'timeoutSeconds',
  'minReplicas',
  // Not pointers, but written by Go's JSON even at zero (no omitempty) and required.
  'value',
]);

const isEmpty = (v: unknown): boolean =>
  v === '' ||
  v === 0 ||
  v === false ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && v !== null && Object.keys(v).length === 0);

function isoTime(seconds: number, nanos: number, fractionDigits: number): string | undefined {
  if (!seconds && !nanos) return undefined;
  const iso = new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, '');
  return fractionDigits ? `${iso}.${String(Math.floor(nanos)).padStart(9, '0').slice(0, fractionDigits)}Z` : `${iso}Z`;
}

/** A Go time.Duration (nanoseconds) as Go prints it: 1h2m3.5s. */
function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  let s = Math.abs(ns) / 1e9;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${sign}${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${Number(s.toFixed(9))}s`;
}

function parseRaw(raw: unknown): unknown {
  const buf = Buffer.from(raw as Uint8Array);
  if (!buf.length) return undefined;
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    throw new ProtobufError('an embedded raw object is not JSON');
  }
}

/**
 * Go maps travel as repeated `XxxEntry {key, value}` messages nested in their message, which protobufjs
 * reads from descriptors as plain repeated fields; an absent value is the value type's zero.
 */
function mapEntry(parent: protobuf.Type, sub: protobuf.Type): { convert: (v: unknown) => unknown } | undefined {
  if (
    sub.parent !== parent ||
    !sub.name.endsWith('Entry') ||
    sub.fieldsArray.length !== 2 ||
    !sub.fields.key ||
    !sub.fields.value
  )
    return undefined;
  const valueField = sub.fields.value;
  valueField.resolve();
  const valueType = valueField.resolvedType instanceof protobuf.Type ? valueField.resolvedType : undefined;
  return {
    convert: (v) => {
      if (valueType) return toJson(valueType, (v ?? {}) as Record<string, unknown>);
      if (valueField.type === 'bytes') return Buffer.from((v ?? new Uint8Array()) as Uint8Array).toString('base64');
      return v ?? (valueField.type === 'string' ? '' : 0);
    },
  };
}

/** The JSON form of a decoded message (`toObject` output) of `type`. */
function toJson(type: protobuf.Type, obj: Record<string, unknown>): unknown {
  switch (type.fullName) {
    case `.${META}.Time`:
      return isoTime(Number(obj.seconds ?? 0), Number(obj.nanos ?? 0), 0);
    case `.${META}.MicroTime`:
      return isoTime(Number(obj.seconds ?? 0), Number(obj.nanos ?? 0), 6);
    case `.${META}.Duration`:
      return goDuration(Number(obj.duration ?? 0));
    case '.k8s.io.apimachinery.pkg.util.intstr.IntOrString':
      return Number(obj.type ?? 0) === 1 ? String(obj.strVal ?? '') : Number(obj.intVal ?? 0);
    case '.k8s.io.apimachinery.pkg.api.resource.Quantity':
      return obj.string;
    case '.k8s.io.apimachinery.pkg.runtime.RawExtension':
      return parseRaw(obj.raw);
    case `.${META}.FieldsV1`:
      return parseRaw(obj.Raw);
  }
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const value = obj[field.name];
    if (value === undefined) continue;
    field.resolve();
    const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    const convert = (x: unknown): unknown =>
      sub
        ? toJson(sub, x as Record<string, unknown>)
        : field.type === 'bytes'
          ? Buffer.from(x as Uint8Array).toString('base64')
          : x;
    let json: unknown;
    const entry = sub && mapEntry(type, sub);
    if (entry)
      json = Object.fromEntries(
        (value as Array<{ key?: string; value?: unknown }>).map((e) => [e.key ?? '', entry.convert(e.value)]),
      );
    else if (field.repeated) json = (value as unknown[]).map(convert);
    else json = convert(value);
    if (sub && INLINE_FIELDS.has(field.name) && INLINE_TYPES.has(sub.name) && json && typeof json === 'object') {
      Object.assign(out, json);
      continue;
    }
    // Go's JSON keeps structs even when empty (`resources: {}`); scalars at their zero value are omitted.
    // Status fields (DeploymentStatus.replicas) are plain values, unlike their namesakes in specs.
    const zeroCounts =
      ZERO_MEANINGFUL.has(field.name) && !type.name.endsWith('Status') && (json === 0 || json === false);
    if (json === undefined || (!sub && isEmpty(json) && !zeroCounts)) continue;
    out[field.name] = json;
  }
  return out;
}

/** The protobuf package of an API group: the first label of its name (`rbac.authorization.k8s.io` is `rbac`). */
function messageType(apiVersion: string, kind: string): protobuf.Type {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const candidates = [`k8s.io.api.${group!.split('.')[0] || 'core'}.${version}.${kind}`, `${META}.${kind}`];
  for (const name of candidates) {
    const found = root.lookup(name);
    if (found instanceof protobuf.Type) return found;
  }
  throw new ProtobufError(`no protobuf schema for ${apiVersion}, Kind=${kind}`);
}

export const isProtobuf = (contentType: string): boolean => contentType === 'application/vnd.kubernetes.protobuf';

/** A protobuf request body as the JSON object it stands for, with apiVersion and kind set. */
export function decodeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC))
    throw new ProtobufError('the protobuf body does not start with the k8s\\0 prefix');
  let envelope: { typeMeta?: { apiVersion?: string; kind?: string }; raw?: Uint8Array; contentEncoding?: string };
  try {
    envelope = UNKNOWN.toObject(UNKNOWN.decode(body.subarray(MAGIC.length))) as typeof envelope;
  } catch (err) {
    throw new ProtobufError(`the protobuf envelope is not valid: ${(err as Error).message}`);
  }
  const { apiVersion = '', kind = '' } = envelope.typeMeta ?? {};
  if (!kind) throw new ProtobufError('the protobuf envelope names no kind');
  if (envelope.contentEncoding)
    throw new ProtobufError(`content encoding ${envelope.contentEncoding} is not supported`);
  const type = messageType(apiVersion, kind);
  let message: Record<string, unknown>;
  try {
    message = type.toObject(type.decode(envelope.raw ?? new Uint8Array()), {
      longs: Number,
      defaults: false,
      arrays: false,
    });
  } catch (err) {
    throw new ProtobufError(`the ${kind} message is not valid: ${(err as Error).message}`);
  }
  return { apiVersion, kind, ...(toJson(type, message) as Record<string, unknown>) };
}
