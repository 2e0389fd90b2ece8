/** What discovery and kubectl need to know of a resource; the built-in ones are listed in `registry/index.ts`. */

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  subresources?: string[];
  /** Reviews: created and answered at once, never stored (SelfSubjectAccessReview, TokenReview, ...). */
  review?: boolean;
  /** Computed on request, never stored: only get and list (metrics.k8s.io). */
  readOnly?: boolean;
  /** Served for a CustomResourceDefinition. */
  custom?: boolean;
  /** A custom resource's additionalPrinterColumns. */
  printerColumns?: PrinterColumn[];
  /** A custom resource's openAPIV3Schema, which its objects are validated and pruned by. */
  schema?: Record<string, unknown>;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  format?: string;
  priority?: number;
  description?: string;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
export const verbsOf = (r: ResourceType): string[] => (r.review ? ['create'] : r.readOnly ? ['get', 'list'] : VERBS);

/** A resource's discovery entry: singular from the kind, `all` puts it in `kubectl get all`. */
export function resourceType(
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  opts: { shortNames?: string[]; all?: boolean; subresources?: string[]; review?: boolean } = {},
): ResourceType {
  return {
    group,
    version,
    kind,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    shortNames: opts.shortNames,
    categories: opts.all ? ['all'] : undefined,
    subresources: opts.subresources,
    ...(opts.review ? { review: true } : {}),
  };
}

/** Groups and their versions, preferred first, in discovery order. */
export function groups(resources: ResourceType[]): Array<{ name: string; versions: string[] }> {
  const out: Array<{ name: string; versions: string[] }> = [];
  for (const res of resources) {
    if (!res.group) continue;
    let g = out.find((x) => x.name === res.group);
    if (!g) out.push((g = { name: res.group, versions: [] }));
    if (!g.versions.includes(res.version)) g.versions.push(res.version);
  }
  return out;
}

export function findResource(
  resources: ResourceType[],
  group: string,
  version: string,
  plural: string,
): ResourceType | undefined {
  return resources.find((x) => x.group === group && x.version === version && x.plural === plural);
}

/** The storage key of an object: one key space per group and resource, whatever the version. */
export function storageKey(res: ResourceType, namespace: string | undefined, name?: string): string {
  const base = `/registry/${res.group || 'core'}/${res.plural}/`;
  if (!res.namespaced) return name === undefined ? base : base + name;
  if (namespace === undefined) return base;
  return name === undefined ? `${base}${namespace}/` : `${base}${namespace}/${name}`;
}
