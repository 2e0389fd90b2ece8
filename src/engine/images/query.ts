/** What `docker images`, `image inspect` and `history` show. */
import { chainIds } from '../../common/digest.js';
import { type HistoryEntry } from '../../images/oci.js';
import { labelsMatch } from '../../common/labels.js';
import type { ImageService } from './service.js';
import type { ImageSummary } from './types.js';
import { matchReference, containerConfigForApi } from './util.js';

export const queryMethods = {
  async list(
    this: ImageService,
    opts: { all?: boolean; filters?: Record<string, string[]>; sharedSize?: boolean } = {},
  ): Promise<ImageSummary[]> {
    const f = opts.filters ?? {};
    const out: ImageSummary[] = [];
    const chainCount = new Map<string, number>();
    if (opts.sharedSize) {
      for (const rec of this.d.images.list())
        for (const c of chainIds(rec.diffIds)) chainCount.set(c, (chainCount.get(c) ?? 0) + 1);
    }
    const before = f.before?.length ? this.resolve(f.before[0]!) : undefined;
    const since = f.since?.length ? this.resolve(f.since[0]!) : undefined;
    for (const rec of this.d.images.list()) {
      const tags = this.d.images.repoTags(rec.id);
      if (rec.intermediate && !opts.all && tags.length === 0) continue;
      const digests = this.d.images.repoDigests(rec.id);
      const config = await this.config(rec);
      const created = config.created ? Math.floor(new Date(config.created).getTime() / 1000) : 0;
      if (f.dangling?.length) {
        const want = f.dangling[0] === 'true' || f.dangling[0] === '1';
        if (want !== (tags.length === 0)) continue;
      }
      if (f.reference?.length && !f.reference.some((pat) => tags.some((t) => matchReference(pat, t)))) continue;
      if (f.label?.length && !labelsMatch(config.config?.Labels, f.label)) continue;
      if (before) {
        const bc = await this.config(before);
        if (!(created < Math.floor(new Date(bc.created ?? 0).getTime() / 1000))) continue;
      }
      if (since) {
        const sc = await this.config(since);
        if (!(created > Math.floor(new Date(sc.created ?? 0).getTime() / 1000))) continue;
      }
      const size = await this.size(rec);
      let shared = -1;
      if (opts.sharedSize) {
        shared = 0;
        for (const c of chainIds(rec.diffIds))
          if ((chainCount.get(c) ?? 0) > 1) shared += (await this.d.snapshots.stat(c))?.size ?? 0;
      }
      out.push({
        Id: rec.id,
        ParentId: '',
        RepoTags: tags,
        RepoDigests: digests,
        Created: created,
        Size: size,
        SharedSize: shared,
        Labels: config.config?.Labels ?? null,
        Containers: this.d.containersUsing ? this.d.containersUsing(rec.id).length : -1,
      });
    }
    // Untagged images show as <none>:<none> only with -a or dangling filter; Docker lists them by default too.
    return out.sort((a, b) => b.Created - a.Created || a.Id.localeCompare(b.Id));
  },

  async inspect(this: ImageService, nameOrId: string): Promise<Record<string, unknown>> {
    const rec = this.resolve(nameOrId);
    const config = await this.config(rec);
    const cfg = config.config ?? {};
    const lower = await this.d.snapshots.lowerDirs(chainIds(rec.diffIds).at(-1)!).catch(() => [] as string[]);
    return {
      Id: rec.id,
      RepoTags: this.d.images.repoTags(rec.id),
      RepoDigests: this.d.images.repoDigests(rec.id),
      Parent: '',
      Comment: config.comment ?? config.history?.at(-1)?.comment ?? '',
      Created: config.created ?? '0001-01-01T00:00:00Z',
      DockerVersion: config.docker_version ?? '',
      Author: config.author ?? '',
      Config: containerConfigForApi(cfg),
      Architecture: config.architecture,
      ...(config.variant ? { Variant: config.variant } : {}),
      Os: config.os,
      Size: await this.size(rec),
      GraphDriver: {
        Name: 'overlay2',
        Data: lower.length ? { LowerDir: lower.join(':') } : {},
      },
      RootFS: { Type: 'layers', Layers: rec.diffIds },
      Metadata: { LastTagTime: rec.lastTagTime ?? '0001-01-01T00:00:00Z' },
    };
  },

  async history(this: ImageService, nameOrId: string): Promise<Array<Record<string, unknown>>> {
    const rec = this.resolve(nameOrId);
    const config = await this.config(rec);
    const chains = chainIds(rec.diffIds);
    const hist: HistoryEntry[] = config.history?.length
      ? config.history
      : rec.diffIds.map(() => ({ created: config.created }));
    const out: Array<Record<string, unknown>> = [];
    let layerIndex = 0;
    for (const h of hist) {
      let size = 0;
      if (!h.empty_layer) {
        const c = chains[layerIndex++];
        size = c ? ((await this.d.snapshots.stat(c))?.size ?? 0) : 0;
      }
      out.push({
        Id: '<missing>',
        Created: h.created ? Math.floor(new Date(h.created).getTime() / 1000) : 0,
        CreatedBy: h.created_by ?? '',
        Tags: null,
        Size: size,
        Comment: h.comment ?? '',
      });
    }
    out.reverse();
    if (out[0]) {
      out[0].Id = rec.id;
      out[0].Tags = this.d.images.repoTags(rec.id);
    }
    return out;
  },
};
