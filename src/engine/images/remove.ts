/** Untag and delete (`docker rmi`), prune, and the garbage collection that frees what no image, container or lease holds. */
import { chainIds, shortId } from '../../common/digest.js';
import { conflict, invalid } from '../../common/errors.js';
import { familiarString, fullName, parseNormalizedReference, type Reference } from '../../images/reference.js';
import { labelsExclude, labelsMatch } from '../../common/labels.js';
import type { ImageService } from './service.js';
import { parseUntil } from './util.js';

export const removeMethods = {
  /**
   * Remove a reference or an image, with Docker's rules: a tag is untagged, and the image deleted
   * when no tag is left; an ID deletes the image unless several repositories reference it (then only
   * with force); images used by containers need force and are then only untagged.
   */
  async remove(
    this: ImageService,
    nameOrId: string,
    force = false,
    prune = true,
  ): Promise<Array<{ Untagged?: string; Deleted?: string }>> {
    const rec = this.resolve(nameOrId);
    const out: Array<{ Untagged?: string; Deleted?: string }> = [];
    let byRef: Reference | undefined;
    try {
      const parsed = parseNormalizedReference(nameOrId);
      const withDefault = parsed.tag || parsed.digest ? parsed : { ...parsed, tag: 'latest' };
      if (this.d.images.lookupRef(withDefault) === rec.id) byRef = withDefault;
    } catch {
      byRef = undefined;
    }
    const using = this.d.containersUsing?.(rec.id) ?? [];
    const refs = this.d.images.refsOf(rec.id);
    const tagRefs = refs.filter((r) => r.tag);
    if (byRef) {
      const repos = new Set(refs.map(fullName));
      const lastOfImage = tagRefs.length <= 1 && (byRef.tag ? true : repos.size <= 1);
      if (lastOfImage && using.length && !force) {
        throw conflict(
          `conflict: unable to remove repository reference "${nameOrId}" (must force) - container ${shortId(using[0]!)} is using its referenced image ${shortId(rec.id)}`,
        );
      }
      await this.d.images.removeRef(byRef);
      out.push({ Untagged: familiarString(byRef) });
      this.d.events.publish('image', 'untag', rec.id, { name: familiarString(byRef) });
      const remainingTags = this.d.images.refsOf(rec.id).filter((r) => r.tag);
      if (remainingTags.length > 0 || (using.length && force)) return out;
      // Digest references of the same repository go with the last tag, as in Docker.
      for (const r of this.d.images.refsOf(rec.id)) {
        await this.d.images.removeRef(r);
        out.push({ Untagged: familiarString(r) });
      }
    } else {
      const repos = new Set(refs.map(fullName));
      if (repos.size > 1 && !force) {
        throw conflict(
          `conflict: unable to delete ${shortId(rec.id)} (must be forced) - image is referenced in multiple repositories`,
        );
      }
      if (using.length) {
        if (!force) {
          throw conflict(
            `conflict: unable to delete ${shortId(rec.id)} (must be forced) - image is being used by stopped container ${shortId(using[0]!)}`,
          );
        }
        throw conflict(
          `conflict: unable to delete ${shortId(rec.id)} (cannot be forced) - image is being used by running container ${shortId(using[0]!)}`,
        );
      }
      for (const r of refs) {
        await this.d.images.removeRef(r);
        out.push({ Untagged: familiarString(r) });
        if (r.tag) this.d.events.publish('image', 'untag', rec.id, { name: familiarString(r) });
      }
    }
    await this.d.images.delete(rec.id);
    out.push({ Deleted: rec.id });
    this.d.events.publish('image', 'delete', rec.id, { name: rec.id });
    if (prune) await this.gc();
    return out;
  },

  async prune(
    this: ImageService,
    filters: Record<string, string[]>,
  ): Promise<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed: number }> {
    const dangling = filters.dangling?.[0];
    if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling.toLowerCase()))
      throw invalid(`invalid filter 'dangling=${dangling}'`);
    const danglingOnly = !(dangling?.toLowerCase() === 'false' || dangling === '0');
    const deleted: Array<{ Untagged?: string; Deleted?: string }> = [];
    let reclaimed = 0;
    const until = filters.until?.[0] ? parseUntil(filters.until[0]) : undefined;
    for (const rec of this.d.images.list()) {
      const tags = this.d.images.repoTags(rec.id);
      if (danglingOnly && tags.length) continue;
      // Build steps' images are the build cache (the parents moby's prune leaves to `builder prune`).
      if (danglingOnly && rec.intermediate) continue;
      if ((this.d.containersUsing?.(rec.id) ?? []).length) continue;
      const config = await this.config(rec);
      if (until !== undefined && new Date(config.created ?? 0).getTime() >= until) continue;
      if (filters.label?.length && !labelsMatch(config.config?.Labels, filters.label)) continue;
      if (filters['label!']?.length && !labelsExclude(config.config?.Labels, filters['label!'])) continue;
      for (const r of this.d.images.refsOf(rec.id)) {
        await this.d.images.removeRef(r);
        deleted.push({ Untagged: familiarString(r) });
      }
      await this.d.images.delete(rec.id);
      deleted.push({ Deleted: rec.id });
      this.d.events.publish('image', 'delete', rec.id, { name: rec.id });
    }
    reclaimed = await this.gc();
    this.d.events.publish('image', 'prune', '', { reclaimed: String(reclaimed) });
    return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  },

  /** Delete blobs and snapshots no image, container or operation in flight refers to. Returns bytes freed. */
  async gc(this: ImageService): Promise<number> {
    const liveBlobs = new Set<string>(this.leases.keys());
    const liveChains = new Set<string>(this.leases.keys());
    for (const rec of this.d.images.list()) {
      liveBlobs.add(rec.id);
      liveBlobs.add(rec.manifest.digest);
      for (const l of rec.layers) liveBlobs.add(l.digest);
      for (const c of chainIds(rec.diffIds)) liveChains.add(c);
    }
    for (const c of this.d.liveSnapshots?.() ?? []) liveChains.add(c);
    let freed = 0;
    for await (const b of this.d.content.walk()) {
      if (!liveBlobs.has(b.digest)) {
        await this.d.content.delete(b.digest);
        freed += b.size;
      }
    }
    for (const s of await this.d.snapshots.list()) {
      if (!liveChains.has(s.chainId)) {
        await this.d.snapshots.remove(s.chainId);
        freed += s.size;
      }
    }
    return freed;
  },
};
