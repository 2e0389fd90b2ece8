/**
 * CustomResourceDefinitions: each served version of a CRD becomes a resource type like the built-in ones
 * (discovery, CRUD, watch, tables from additionalPrinterColumns, OpenAPI schema for explain), stored under
 * `/registry/<group>/<plural>/`. The set follows the stored CRDs through a watch, and the API server
 * hands over its own writes at once so a new kind is usable on the next request.
 */
import { nowRfc3339 } from '../api/object.js';
import type { Logger } from '../../common/log.js';
import { followPrefix } from '../storage/follow.js';
import type { Storage } from '../storage/types.js';
import { invalid, type KObject } from './objects.js';
import type { Kind } from './openapi/openapi.js';
import { groupVersionPath } from './openapi/openapi.js';
import type { PrinterColumn, ResourceType } from './resources.js';
import { RESOURCES } from './registry/index.js';

export const CRD_PREFIX = '/registry/apiextensions.k8s.io/customresourcedefinitions/';

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: Record<string, unknown> };
  subresources?: { status?: unknown; scale?: unknown };
  additionalPrinterColumns?: PrinterColumn[];
}

interface CrdSpec {
  group?: string;
  scope?: string;
  names?: {
    plural?: string;
    singular?: string;
    kind?: string;
    listKind?: string;
    shortNames?: string[];
    categories?: string[];
  };
  versions?: CrdVersion[];
}

type Schema = Record<string, unknown>;

/** Checks what Kubernetes refuses in a CRD: the name must be `<plural>.<group>`, names and versions present. */
export function validateCrd(r: ResourceType, crd: KObject): void {
  const spec = (crd.spec ?? {}) as CrdSpec;
  const name = crd.metadata?.name ?? '';
  const causes: Array<{ field: string; message: string; value?: unknown }> = [];
  if (!spec.group) causes.push({ field: 'spec.group', message: 'Required value' });
  if (!spec.names?.plural) causes.push({ field: 'spec.names.plural', message: 'Required value' });
  if (!spec.names?.kind) causes.push({ field: 'spec.names.kind', message: 'Required value' });
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster')
    causes.push({
      field: 'spec.scope',
      value: spec.scope ?? '',
      message: 'Unsupported value: must be "Cluster" or "Namespaced"',
    });
  if (!spec.versions?.length)
    causes.push({
      field: 'spec.versions',
      message: 'Invalid value: must have exactly one version marked as storage version',
    });
  else if (spec.versions.filter((v) => v.storage).length !== 1)
    causes.push({
      field: 'spec.versions',
      value: spec.versions.map((v) => v.name),
      message: 'must have exactly one version marked as storage version',
    });
  if (spec.group && spec.names?.plural && name !== `${spec.names.plural}.${spec.group}`)
    causes.push({ field: 'metadata.name', value: name, message: 'must be spec.names.plural+"."+spec.group' });
  causes.push(...groupProblems(spec.group, crd.metadata?.annotations));
  for (const field of ['plural', 'singular'] as const) {
    const v = spec.names?.[field];
    if (v && !DNS1035_LABEL.test(v))
      causes.push({
        field: `spec.names.${field}`,
        value: v,
        message: `a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
      });
  }
  if (spec.names?.kind && !/^[A-Za-z][A-Za-z0-9]*$/.test(spec.names.kind))
    causes.push({
      field: 'spec.names.kind',
      value: spec.names.kind,
      message: 'must be a valid kind name (alphanumeric, starting with a letter)',
    });
  if (causes.length) throw invalid(r, name, causes);
}

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Read on use: the registry imports this module while it is being built. */
let builtInGroups: Set<string> | undefined;
const isBuiltInGroup = (group: string): boolean =>
  (builtInGroups ??= new Set(RESOURCES.map((x) => x.group))).has(group);

/**
 * A CRD's group must be a domain with a dot, and never a built-in group: custom objects are stored
 * under their group, so one claiming `rbac.authorization.k8s.io` would share (and, deleted, remove)
 * the built-in objects. Kubernetes' protected groups (*.k8s.io, *.kubernetes.io) need the approval
 * annotation, as there.
 */
function groupProblems(
  group: string | undefined,
  annotations: Record<string, string> | undefined,
): Array<{ field: string; message: string; value?: unknown }> {
  if (!group) return [];
  if (!group.includes('.'))
    return [{ field: 'spec.group', value: group, message: 'should be a domain with at least one dot' }];
  if (!DNS1123_SUBDOMAIN.test(group) || group.length > 253)
    return [
      {
        field: 'spec.group',
        value: group,
        message:
          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
      },
    ];
  if (isBuiltInGroup(group))
    return [
      {
        field: 'spec.group',
        value: group,
        message: 'is a built-in API group; custom resources cannot be served in it',
      },
    ];
  const protectedGroup =
    group === 'k8s.io' || group.endsWith('.k8s.io') || group === 'kubernetes.io' || group.endsWith('.kubernetes.io');
  if (protectedGroup && !annotations?.['api-approved.kubernetes.io']) {
    return [
      {
        field: 'metadata.annotations[api-approved.kubernetes.io]',
        message:
          'Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111',
      },
    ];
  }
  return [];
}

/** Is a stored CRD one that may be served (and whose objects may be removed with it)? */
export function servableGroup(group: string | undefined): group is string {
  return !!group && group.includes('.') && DNS1123_SUBDOMAIN.test(group) && !isBuiltInGroup(group);
}

/** The status Kubernetes reports once a CRD's names are accepted and it is served. */
export function crdStatus(crd: KObject): Record<string, unknown> {
  const spec = (crd.spec ?? {}) as CrdSpec;
  const now = nowRfc3339();
  const names = {
    ...spec.names,
    singular: spec.names?.singular ?? spec.names?.kind?.toLowerCase(),
    listKind: spec.names?.listKind ?? `${spec.names?.kind}List`,
  };
  return {
    acceptedNames: names,
    conditions: [
      {
        type: 'NamesAccepted',
        status: 'True',
        reason: 'NoConflicts',
        message: 'no conflicts found',
        lastTransitionTime: now,
      },
      {
        type: 'Established',
        status: 'True',
        reason: 'InitialNamesAccepted',
        message: 'the initial names have been accepted',
        lastTransitionTime: now,
      },
    ],
    storedVersions: (spec.versions ?? []).filter((v) => v.storage).map((v) => v.name),
  };
}

interface Served {
  types: ResourceType[];
  schemas: Map<string, Record<string, Schema & { kind: Kind }>>;
}

export class CustomResources {
  private readonly crds = new Map<string, Served>();

  constructor(
    private readonly storage: Storage,
    private readonly logger: Logger,
    private readonly changed: () => void,
  ) {}

  start(): Promise<void> {
    return followPrefix(this.storage, CRD_PREFIX, this, this.logger);
  }

  reset(): void {
    this.crds.clear();
    this.changed();
  }

  observe(key: string, value: Buffer | undefined): void {
    const name = key.slice(CRD_PREFIX.length);
    if (!value) this.crds.delete(name);
    else this.crds.set(name, served(JSON.parse(value.toString()) as KObject));
    this.changed();
  }

  resources(): ResourceType[] {
    return [...this.crds.values()].flatMap((c) => c.types);
  }

  /** OpenAPI v3 schemas of the custom kinds of one group/version, keyed by schema name. */
  schemas(gvPath: string): Record<string, Schema & { kind: Kind }> {
    return Object.assign({}, ...[...this.crds.values()].map((c) => c.schemas.get(gvPath) ?? {})) as Record<
      string,
      Schema & { kind: Kind }
    >;
  }
}

function served(crd: KObject): Served {
  const spec = (crd.spec ?? {}) as CrdSpec;
  const names = spec.names ?? {};
  const out: Served = { types: [], schemas: new Map() };
  const group = spec.group;
  if (!servableGroup(group) || !names.plural || !DNS1035_LABEL.test(names.plural) || !names.kind) return out;
  for (const v of spec.versions ?? []) {
    if (v.served === false) continue;
    const subresources = [...(v.subresources?.status ? ['status'] : []), ...(v.subresources?.scale ? ['scale'] : [])];
    out.types.push({
      group: group,
      version: v.name,
      kind: names.kind,
      plural: names.plural,
      singular: names.singular ?? names.kind.toLowerCase(),
      namespaced: spec.scope !== 'Cluster',
      shortNames: names.shortNames,
      categories: names.categories,
      subresources: subresources.length ? subresources : undefined,
      printerColumns: v.additionalPrinterColumns,
      custom: true,
      schema: v.schema?.openAPIV3Schema,
    });
    const schema = v.schema?.openAPIV3Schema;
    if (schema) {
      const reversed = group.split('.').reverse().join('.');
      out.schemas.set(groupVersionPath(group, v.name), {
        [`${reversed}.${v.name}.${names.kind}`]: {
          ...schema,
          kind: { group: group, version: v.name, kind: names.kind },
        },
      });
    }
  }
  return out;
}
