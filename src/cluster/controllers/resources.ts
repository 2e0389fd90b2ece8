/**
 * The API's resources as controllers that act on every kind need them (the garbage collector and the
 * namespace controller): read from discovery, preferred version per group, with the verbs each allows.
 */
import { collectionPath, type KubeClient } from '../client/client.js';

export interface ApiResource {
  apiVersion: string;
  group: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  verbs: string[];
}

interface ResourceList {
  resources: Array<{ name: string; kind: string; namespaced: boolean; verbs: string[] }>;
}

/** Every top-level resource (no subresources) of the server's preferred group versions. */
export async function discoverResources(client: KubeClient): Promise<ApiResource[]> {
  const groups = await client.request<{ groups: Array<{ name: string; preferredVersion: { groupVersion: string } }> }>(
    'GET',
    '/apis',
  );
  const versions = ['v1', ...groups.groups.map((g) => g.preferredVersion.groupVersion)];
  const out: ApiResource[] = [];
  for (const gv of versions) {
    const list = await client.request<ResourceList>('GET', gv === 'v1' ? '/api/v1' : `/apis/${gv}`);
    for (const r of list.resources) {
      if (r.name.includes('/')) continue;
      out.push({
        apiVersion: gv,
        group: gv.includes('/') ? gv.slice(0, gv.indexOf('/')) : '',
        kind: r.kind,
        plural: r.name,
        namespaced: r.namespaced,
        verbs: r.verbs,
      });
    }
  }
  return out;
}

/** The path of one object of a resource. */
export function objectPath(r: ApiResource, namespace: string | undefined, name: string): string {
  return `${collectionPath(r.apiVersion, r.plural, r.namespaced ? namespace : undefined)}/${encodeURIComponent(name)}`;
}

/** The group of an apiVersion (`apps/v1` → `apps`, `v1` → ``). */
export const groupOf = (apiVersion: string): string =>
  apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
