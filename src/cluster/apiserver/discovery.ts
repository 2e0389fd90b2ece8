/**
 * Discovery and OpenAPI: `/version`, `/api`, `/apis`, each group version's APIResourceList (with the
 * subresources and their verbs), and the OpenAPI v3 documents `kubectl explain` reads — built-in and
 * custom kinds alike, cached until the custom resources change.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CustomResources } from './crds.js';
import { send } from './http.js';
import { ApiError } from './objects.js';
import { groupVersionDocument, groupVersionPath, type OpenApiDocument } from './openapi/openapi.js';
import { RESOURCES, strategyFor } from './registry/index.js';
import { groups, verbsOf, type ResourceType } from './resources.js';

const NOT_FOUND = (): ApiError => new ApiError(404, 'NotFound', 'the server could not find the requested resource');

/** Verbs of the subresources served as generic reads and writes, and of the node agent's. */
const GENERIC_SUBRESOURCE_VERBS: Record<string, string[]> = {
  status: ['get', 'patch', 'update'],
  scale: ['get', 'patch', 'update'],
  approval: ['get', 'patch', 'update'],
  finalize: ['update'],
};
const GENERIC_SUBRESOURCE_KINDS: Record<string, string> = {
  scale: 'Scale',
  exec: 'PodExecOptions',
  attach: 'PodAttachOptions',
  portforward: 'PodPortForwardOptions',
};

export class Discovery {
  private readonly openApiCache = new Map<string, OpenApiDocument>();

  constructor(private readonly crds: CustomResources) {}

  /** The custom kinds changed: documents are built again on their next request. */
  invalidate(): void {
    this.openApiCache.clear();
  }

  /** The built-in resources and those of the CustomResourceDefinitions. */
  resources(): ResourceType[] {
    return [...RESOURCES, ...this.crds.resources()];
  }

  /** Answers the discovery and OpenAPI paths; false when `p` is none of them. */
  serve(req: IncomingMessage, res: ServerResponse, url: URL, p: string): boolean {
    if (p === '/version') {
      send(res, 200, {
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
    } else if (p === '/api') {
      send(res, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '' }],
      });
    } else if (p === '/apis') {
      send(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups(this.resources()).map((g) => ({
          name: g.name,
          versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
          preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] },
        })),
      });
    } else if (p === '/openapi/v2') {
      // kubectl reads an empty OpenAPI v2 document as "no schemas" and skips client-side validation.
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end();
    } else if (p === '/openapi/v3') {
      send(res, 200, { paths: this.openApiIndex() });
    } else if (p.startsWith('/openapi/v3/')) {
      const doc = this.openApiDocument(p.slice('/openapi/v3/'.length));
      if (!doc) throw NOT_FOUND();
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(doc.body),
        Etag: `"${doc.hash}"`,
        'Cache-Control': url.searchParams.get('hash') === doc.hash ? 'public, immutable' : 'no-cache, private',
      });
      res.end(doc.body);
    } else return false;
    return true;
  }

  private openApiIndex(): Record<string, { serverRelativeURL: string }> {
    const out: Record<string, { serverRelativeURL: string }> = {};
    for (const r of this.resources()) {
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
    const kinds = this.resources().filter((r) => !r.review && groupVersionPath(r.group, r.version) === gvPath);
    if (!kinds.length) return undefined;
    const doc = groupVersionDocument(kinds, this.crds.schemas(gvPath));
    if (doc) this.openApiCache.set(gvPath, doc);
    return doc;
  }

  /** The APIResourceList of one group version. */
  groupVersion(res: ServerResponse, group: string, version: string): void {
    const list = this.resources().filter((r) => r.group === group && r.version === version);
    if (!list.length) throw NOT_FOUND();
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
      const own = strategyFor(r).subresources ?? {};
      for (const sub of r.subresources ?? []) {
        resources.push({
          name: `${r.plural}/${sub}`,
          singularName: '',
          namespaced: r.namespaced,
          // kubectl drain uses evictions only when discovery names the Eviction kind's group and version.
          ...(own[sub]?.groupVersion ?? {}),
          kind: own[sub]?.kind ?? GENERIC_SUBRESOURCE_KINDS[sub] ?? r.kind,
          verbs: own[sub]?.verbs ?? GENERIC_SUBRESOURCE_VERBS[sub] ?? ['create', 'get'],
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
}
