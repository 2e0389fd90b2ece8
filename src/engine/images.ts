/**
 * The image service: pull, push, tag, remove, inspect, history, save, load, import, prune and disk
 * usage, as thin orchestrations over the content store, snapshotter, image metadata and registry
 * client. Garbage collection is by reference: removing an image drops its record, then `gc` deletes
 * blobs and snapshots nothing refers to (and nothing in flight holds a lease on).
 */
import { anchoredRegex } from '../common/regex.js';
import { PassThrough, Readable } from 'node:stream';
import { pack as tarPack, extract as tarExtract } from 'tar-stream';
import { chainIds, hexOf, shortId } from '../common/digest.js';
import { conflict, errorMessage, GantryError, invalid, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { ContentStore } from '../content/store.js';
import { decompress, detectCompression, peek } from '../diff/compression.js';
import { applyChanges } from '../images/changes.js';
import {
  choosePlatform,
  isIndexType,
  MediaType,
  type ContainerConfig,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type HistoryEntry,
  type ImageManifest,
} from '../images/oci.js';
import {
  familiarName,
  familiarString,
  fullName,
  parseNormalizedReference,
  parseWithDefaultTag,
  withDigest,
  withTag,
  type Reference,
} from '../images/reference.js';
import type { ImageRecord, ImageStore } from '../images/store.js';
import type { AuthConfig } from '../registry/auth.js';
import { RegistryError, withRetry, type RegistryClient, type RepositorySession } from '../registry/client.js';
import type { Snapshotter } from '../snapshots/store.js';
import type { EventBus } from './events.js';
import { ensureSnapshots, storeLayer, unpackVerified } from './layers.js';
import type { ExtractLimits } from '../diff/apply.js';
import { noProgress, throttledProgress, type ProgressSink } from './progress.js';
import { labelsMatch } from '../common/labels.js';

export interface ImageServiceDeps {
  content: ContentStore;
  snapshots: Snapshotter;
  images: ImageStore;
  registry: RegistryClient;
  events: EventBus;
  logger: Logger;
  /** IDs of containers using an image (filled in by the container service). */
  containersUsing?: (imageId: string) => string[];
  /** Snapshots that containers hold (their image's chain), kept by GC. */
  liveSnapshots?: () => Iterable<string>;
  /** Caps on an unpacked layer (decompression bombs). */
  layerLimits?: ExtractLimits;
}

/** `docker images` row (API ImageSummary). */
export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels: Record<string, string> | null;
  Containers: number;
}

// Docker downloads three layers at a time; unpacking overlaps with downloading, so allow four.
const PULL_CONCURRENCY = 4;

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
}

export class ImageService {
  /** Digests and chain IDs in use by operations in flight; GC never removes these. */
  private readonly leases = new Map<string, number>();

  constructor(private readonly d: ImageServiceDeps) {}

  private lease(keys: string[]): () => void {
    for (const k of keys) this.leases.set(k, (this.leases.get(k) ?? 0) + 1);
    return () => {
      for (const k of keys) {
        const n = (this.leases.get(k) ?? 1) - 1;
        if (n <= 0) this.leases.delete(k);
        else this.leases.set(k, n);
      }
    };
  }

  /** The content store, for services that produce layers (commit, build). */
  get contentStore(): ContentStore {
    return this.d.content;
  }

  async config(rec: ImageRecord): Promise<ImageConfig> {
    return JSON.parse((await this.d.content.readBytes(rec.id)).toString('utf8')) as ImageConfig;
  }

  resolve(nameOrId: string): ImageRecord {
    return this.d.images.resolve(nameOrId);
  }

  tryResolve(nameOrId: string): ImageRecord | undefined {
    return this.d.images.tryResolve(nameOrId);
  }

  /** Sum of the image's unpacked layer sizes, as Docker reports Size. */
  async size(rec: ImageRecord): Promise<number> {
    let total = 0;
    for (const chain of chainIds(rec.diffIds)) total += (await this.d.snapshots.stat(chain))?.size ?? 0;
    return total;
  }

  // Pull.

  async pull(refStr: string, auth: AuthConfig | undefined, progress: ProgressSink = noProgress): Promise<ImageRecord> {
    const ref = parseWithDefaultTag(refStr);
    const tagOrDigest = ref.digest ?? ref.tag!;
    progress({ status: `Pulling from ${ref.path}`, id: ref.digest ?? ref.tag });
    let session: RepositorySession;
    let top: { bytes: Buffer; mediaType: string; digest: string };
    try {
      session = await this.d.registry.session(ref.domain, ref.path, auth, 'pull');
      try {
        top = await session.getManifest(tagOrDigest);
      } catch (err) {
        if (!session.isMirror) throw err;
        // A mirror without this image: ask the registry itself, as Docker does.
        session = await this.d.registry.session(ref.domain, ref.path, auth, 'pull', { mirrors: false });
        top = await session.getManifest(tagOrDigest);
      }
    } catch (err) {
      throw this.pullError(ref, err);
    }
    if (ref.digest && top.digest !== ref.digest) throw invalid(`manifest verification failed for digest ${ref.digest}`);

    let manifestBytes = top.bytes;
    let manifestDigest = top.digest;
    let manifestType = top.mediaType;
    const release: Array<() => void> = [];
    try {
      if (isIndexType(top.mediaType)) {
        await this.d.content.writeBytes(top.bytes, top.digest);
        release.push(this.lease([top.digest]));
        const index = JSON.parse(top.bytes.toString('utf8')) as ImageIndex;
        const chosen = choosePlatform(index);
        if (!chosen) throw notFound(`no matching manifest for linux/amd64 in the manifest list entries`);
        const m = await session.getManifest(chosen.digest);
        manifestBytes = m.bytes;
        manifestDigest = m.digest;
        manifestType = m.mediaType;
      }
      const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
      if (!manifest.config || !Array.isArray(manifest.layers))
        throw invalid(`unsupported manifest format for ${familiarString(ref)}`);
      await this.d.content.writeBytes(manifestBytes, manifestDigest);
      const configDesc = manifest.config;
      release.push(this.lease([manifestDigest, configDesc.digest, ...manifest.layers.map((l) => l.digest)]));
      const s = session;
      await withRetry(() => this.d.content.ingest(configDesc, async () => (await s.getBlob(configDesc.digest)).stream));
      const config = JSON.parse((await this.d.content.readBytes(configDesc.digest)).toString('utf8')) as ImageConfig;
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (diffIds.length !== manifest.layers.length) {
        throw invalid(
          `image config has ${diffIds.length} diff IDs but the manifest lists ${manifest.layers.length} layers`,
        );
      }
      const chains = chainIds(diffIds);
      release.push(this.lease(chains));
      const existing = this.d.images.get(configDesc.digest);
      let upToDate = !!existing;
      for (const c of chains) if (!(await this.d.snapshots.stat(c))) upToDate = false;

      const missing: number[] = [];
      for (const [i, l] of manifest.layers.entries()) {
        if ((await this.d.snapshots.stat(chains[i]!)) && (await this.d.content.info(l.digest))) {
          progress({ status: 'Already exists', progressDetail: {}, id: shortId(l.digest) });
        } else {
          progress({ status: 'Pulling fs layer', progressDetail: {}, id: shortId(l.digest) });
          missing.push(i);
        }
      }
      await mapLimit(missing, PULL_CONCURRENCY, (i) =>
        this.pullLayer(s, manifest.layers[i]!, chains[i]!, chains[i - 1], diffIds[i]!, progress),
      );

      const rec: ImageRecord = existing ?? {
        id: configDesc.digest,
        manifest: { mediaType: manifestType, digest: manifestDigest, size: manifestBytes.length },
        layers: manifest.layers,
        diffIds,
        added: new Date().toISOString(),
      };
      addSources(rec, [...manifest.layers.map((l) => l.digest), configDesc.digest], fullName(ref));
      await this.d.images.put(rec);
      const digestRef = withDigest(ref, top.digest);
      let changedTag = false;
      if (ref.tag) changedTag = (await this.d.images.setRef(ref, rec.id)) !== rec.id;
      await this.d.images.setRef(digestRef, rec.id);
      progress({ status: `Digest: ${top.digest}` });
      const shown = familiarString(ref);
      progress({
        status:
          upToDate && !changedTag
            ? `Status: Image is up to date for ${shown}`
            : `Status: Downloaded newer image for ${shown}`,
      });
      this.d.events.publish('image', 'pull', familiarString(ref), { name: familiarName(ref) });
      return rec;
    } finally {
      for (const r of release) r();
    }
  }

  private pullError(ref: Reference, err: unknown): Error {
    if (err instanceof RegistryError) {
      if (err.kind === 'notFound' && (err.code === 'MANIFEST_UNKNOWN' || err.code === undefined)) {
        return new GantryError(
          'notFound',
          `manifest for ${familiarString(ref)} not found: manifest unknown: manifest unknown`,
        );
      }
      if (err.kind === 'notFound' || err.kind === 'unauthorized' || err.kind === 'forbidden') {
        return new GantryError(
          'notFound',
          `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${errorMessage(err)}`,
        );
      }
      return err;
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  /**
   * Fetch one layer and unpack it. A missing blob streams from the registry into the content store
   * and, at the same time, into the snapshot being unpacked; each side verifies its own digest.
   */
  private async pullLayer(
    s: RepositorySession,
    layer: Descriptor,
    chain: string,
    parent: string | undefined,
    diffId: string,
    progress: ProgressSink,
  ): Promise<void> {
    const id = shortId(layer.digest);
    const started = Date.now();
    let teeExtract: Promise<unknown> | undefined;
    if (!(await this.d.content.info(layer.digest))) {
      const report = throttledProgress(progress, id, 'Downloading', layer.size);
      const needSnapshot = !(await this.d.snapshots.stat(chain));
      await withRetry(
        () =>
          this.d.content.ingest(layer, async () => {
            const { stream } = await s.getBlob(layer.digest);
            // Everything below is wired synchronously, before any data can flow.
            const forStore = new PassThrough({ highWaterMark: 1 << 20 });
            let received = 0;
            stream.on('data', (c: Buffer) => {
              received += c.length;
              report(received);
            });
            stream.on('error', (err) => forStore.destroy(err));
            if (needSnapshot) {
              const forExtract = new PassThrough({ highWaterMark: 1 << 20 });
              stream.on('error', (err) => forExtract.destroy(err));
              stream.pipe(forExtract);
              teeExtract = this.d.snapshots.extract(chain, parent, diffId, (dir) =>
                unpackVerified(forExtract, dir, diffId, this.d.layerLimits),
              );
              // When another caller is already unpacking this chain, our copy is not read: drain it.
              teeExtract.then(
                () => forExtract.resume(),
                () => forExtract.resume(),
              );
            }
            stream.pipe(forStore);
            return forStore;
          }),
        3,
        (err) => this.d.logger.warn({ digest: layer.digest, err: errorMessage(err) }, 'retrying layer download'),
      ).catch(async (err: unknown) => {
        await teeExtract?.catch(() => undefined);
        throw err;
      });
      this.d.logger.debug({ digest: layer.digest, ms: Date.now() - started }, 'layer downloaded');
      progress({ status: 'Verifying Checksum', progressDetail: {}, id });
      progress({ status: 'Download complete', progressDetail: {}, id });
    }
    if (teeExtract) {
      try {
        await teeExtract;
      } catch (err) {
        this.d.logger.warn(
          { digest: layer.digest, err: errorMessage(err) },
          'streamed unpack failed; unpacking from the stored blob',
        );
      }
    }
    if (!(await this.d.snapshots.stat(chain))) {
      progress({ status: 'Extracting', progressDetail: { current: 0, total: layer.size }, id });
      await this.d.snapshots.extract(chain, parent, diffId, async (dir) =>
        unpackVerified(await this.d.content.reader(layer.digest), dir, diffId, this.d.layerLimits),
      );
    }
    this.d.logger.debug({ digest: layer.digest, ms: Date.now() - started }, 'layer unpacked');
    progress({ status: 'Pull complete', progressDetail: {}, id });
  }

  // Push.

  async push(
    name: string,
    tag: string | undefined,
    auth: AuthConfig | undefined,
    progress: ProgressSink = noProgress,
  ): Promise<void> {
    const base = parseNormalizedReference(name);
    if (base.digest) throw invalid(`cannot push a digest reference`);
    const targetTag = tag || base.tag;
    const refs: Reference[] = [];
    if (targetTag) {
      const r = withTag(base, targetTag);
      if (!this.d.images.lookupRef(r)) throw notFound(`No such image: ${familiarString(r)}`);
      refs.push(r);
    } else {
      for (const [r] of this.d.images.allRefs()) if (r.tag && fullName(r) === fullName(base)) refs.push(r);
      if (refs.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarName(base)}`);
    }
    progress({ status: `The push refers to repository [${fullName(base)}]` });
    const session = await this.d.registry.session(base.domain, base.path, auth, 'pull,push').catch((err: unknown) => {
      throw err instanceof GantryError ? err : new GantryError('unavailable', errorMessage(err));
    });
    for (const ref of refs.sort((a, b) => a.tag!.localeCompare(b.tag!))) {
      const rec = this.d.images.get(this.d.images.lookupRef(ref)!)!;
      const release = this.lease([rec.id, rec.manifest.digest, ...rec.layers.map((l) => l.digest)]);
      try {
        const manifestBytes = await this.d.content.readBytes(rec.manifest.digest);
        const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
        for (const l of manifest.layers) progress({ status: 'Preparing', progressDetail: {}, id: shortId(l.digest) });
        await mapLimit(manifest.layers, PULL_CONCURRENCY, (l) =>
          this.pushBlob(session, rec, l, fullName(base), base, progress, true),
        );
        await this.pushBlob(session, rec, manifest.config, fullName(base), base, progress, false);
        const digest = await session.putManifest(ref.tag!, rec.manifest.mediaType, manifestBytes);
        addSources(rec, [...manifest.layers.map((l) => l.digest), manifest.config.digest], fullName(base));
        await this.d.images.put(rec);
        await this.d.images.setRef(withDigest(ref, digest), rec.id);
        progress({ status: `${ref.tag}: digest: ${digest} size: ${manifestBytes.length}` });
        progress({ progressDetail: {}, aux: { Tag: ref.tag, Digest: digest, Size: manifestBytes.length } });
        this.d.events.publish('image', 'push', familiarString(ref), { name: familiarName(ref) });
      } finally {
        release();
      }
    }
  }

  private async pushBlob(
    s: RepositorySession,
    rec: ImageRecord,
    desc: Descriptor,
    target: string,
    base: Reference,
    progress: ProgressSink,
    show: boolean,
  ): Promise<void> {
    const id = shortId(desc.digest);
    const say = (status: string): void => {
      if (show) progress({ status, progressDetail: {}, id });
    };
    if (await s.hasBlob(desc.digest)) {
      say('Layer already exists');
      return;
    }
    const info = await this.d.content.info(desc.digest);
    if (!info) throw notFound(`blob ${desc.digest} is missing from the local store`);
    for (const source of rec.sources?.[desc.digest] ?? []) {
      if (source === target) continue;
      const from = parseNormalizedReference(source);
      if (from.domain === base.domain && (await s.mountBlob(desc.digest, from.path))) {
        say(`Mounted from ${from.path}`);
        return;
      }
    }
    const report = show ? throttledProgress(progress, id, 'Pushing', info.size) : () => undefined;
    await withRetry(() =>
      s.uploadBlob(desc.digest, info.size, (start, end) => this.d.content.reader(desc.digest, { start, end }), report),
    );
    say('Pushed');
  }

  // Local operations.

  async tag(source: string, repo: string, tag: string | undefined): Promise<void> {
    const rec = this.resolve(source);
    const base = parseNormalizedReference(repo);
    if (base.digest) throw invalid('refusing to create a tag with a digest reference');
    const ref = tag ? withTag(base, tag) : base.tag ? base : withTag(base, 'latest');
    await this.d.images.setRef(ref, rec.id);
    this.d.events.publish('image', 'tag', rec.id, { name: familiarString(ref) });
  }

  async list(
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
  }

  async inspect(nameOrId: string): Promise<Record<string, unknown>> {
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
  }

  async history(nameOrId: string): Promise<Array<Record<string, unknown>>> {
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
  }

  /**
   * Remove a reference or an image, with Docker's rules: a tag is untagged, and the image deleted
   * when no tag is left; an ID deletes the image unless several repositories reference it (then only
   * with force); images used by containers need force and are then only untagged.
   */
  async remove(nameOrId: string, force = false, prune = true): Promise<Array<{ Untagged?: string; Deleted?: string }>> {
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
  }

  async prune(
    filters: Record<string, string[]>,
  ): Promise<{ ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed: number }> {
    const danglingOnly = !(filters.dangling?.[0] === 'false' || filters.dangling?.[0] === '0');
    const deleted: Array<{ Untagged?: string; Deleted?: string }> = [];
    let reclaimed = 0;
    const until = filters.until?.[0] ? parseUntil(filters.until[0]) : undefined;
    for (const rec of this.d.images.list()) {
      const tags = this.d.images.repoTags(rec.id);
      if (danglingOnly && tags.length) continue;
      if ((this.d.containersUsing?.(rec.id) ?? []).length) continue;
      const config = await this.config(rec);
      if (until !== undefined && new Date(config.created ?? 0).getTime() >= until) continue;
      if (filters.label?.length && !labelsMatch(config.config?.Labels, filters.label)) continue;
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
  }

  /** Delete blobs and snapshots no image, container or operation in flight refers to. Returns bytes freed. */
  async gc(): Promise<number> {
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
  }

  // Save and load.

  /**
   * `docker save`: an archive that is both an OCI image layout (index.json, blobs/) and a docker-archive
   * (manifest.json, repositories), as Docker 25+ writes. Layer blobs are written as stored.
   */
  save(names: string[]): Readable {
    const pack = tarPack();
    const run = async (): Promise<void> => {
      const wanted = new Map<string, { rec: ImageRecord; tags: Reference[] }>();
      for (const n of names) {
        const rec = this.resolve(n);
        const entry = wanted.get(rec.id) ?? { rec, tags: [] };
        const ref = this.userReference(n);
        if (ref?.tag && this.d.images.lookupRef(ref) === rec.id) entry.tags.push(ref);
        else if (!ref) entry.tags.push(...this.d.images.refsOf(rec.id).filter((r) => r.tag));
        else if (ref.digest)
          entry.tags.push(...this.d.images.refsOf(rec.id).filter((r) => r.tag && fullName(r) === fullName(ref)));
        wanted.set(rec.id, entry);
      }
      const written = new Set<string>();
      const addFile = (name: string, data: Buffer | string): Promise<void> =>
        new Promise((resolve, reject) =>
          pack.entry({ name, mode: 0o644, mtime: new Date(0) }, data, (err) => (err ? reject(err) : resolve())),
        );
      const addBlob = async (digest: string): Promise<void> => {
        if (written.has(digest)) return;
        written.add(digest);
        const info = await this.d.content.info(digest);
        if (!info) throw notFound(`blob ${digest} is missing from the local store`);
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry(
            { name: `blobs/sha256/${hexOf(digest)}`, size: info.size, mode: 0o644, mtime: new Date(0) },
            (err) => (err ? reject(err) : resolve()),
          );
          this.d.content.reader(digest).then((r) => {
            r.on('error', reject);
            r.pipe(sink as unknown as NodeJS.WritableStream);
          }, reject);
        });
      };
      await addFile('blobs/', '');
      const dockerManifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
      const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
      const repositories: Record<string, Record<string, string>> = {};
      for (const { rec, tags } of wanted.values()) {
        await addBlob(rec.id);
        for (const l of rec.layers) await addBlob(l.digest);
        await addBlob(rec.manifest.digest);
        const repoTags = tags.map(familiarString);
        dockerManifest.push({
          Config: `blobs/sha256/${hexOf(rec.id)}`,
          RepoTags: repoTags.length ? repoTags : null,
          Layers: rec.layers.map((l) => `blobs/sha256/${hexOf(l.digest)}`),
        });
        if (tags.length === 0) index.manifests.push({ ...rec.manifest });
        for (const t of tags) {
          index.manifests.push({
            ...rec.manifest,
            annotations: {
              'io.containerd.image.name': `${fullName(t)}:${t.tag}`,
              'org.opencontainers.image.ref.name': t.tag!,
            },
          });
          repositories[familiarName(t)] = {
            ...repositories[familiarName(t)],
            [t.tag!]: hexOf(rec.layers.at(-1)?.digest ?? rec.id),
          };
        }
      }
      await addFile('index.json', JSON.stringify(index));
      await addFile('manifest.json', JSON.stringify(dockerManifest));
      await addFile('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
      if (Object.keys(repositories).length) await addFile('repositories', JSON.stringify(repositories));
      for (const { rec, tags } of wanted.values()) {
        this.d.events.publish('image', 'save', rec.id, { name: tags.map(familiarString)[0] ?? rec.id });
      }
      pack.finalize();
    };
    run().catch((err: Error) => pack.destroy(err));
    return pack as unknown as Readable;
  }

  /** What the user typed as a reference, or undefined when it was an image ID. */
  private userReference(n: string): Reference | undefined {
    if (/^(sha256:)?[a-f0-9]{1,64}$/.test(n) && this.d.images.tryResolve(n)?.id.includes(n.replace('sha256:', '')))
      return undefined;
    try {
      const r = parseNormalizedReference(n);
      return r.tag || r.digest ? r : { ...r, tag: 'latest' };
    } catch {
      return undefined;
    }
  }

  /** `docker load` of a docker-archive or OCI layout tar (optionally compressed). */
  async load(input: Readable, progress: ProgressSink = noProgress): Promise<string[]> {
    const plain = await decompress(input);
    const small = new Map<string, Buffer>();
    const stored = new Map<string, string>(); // archive path -> digest
    const ex = tarExtract();
    const release: Array<() => void> = [];
    try {
      await new Promise<void>((resolve, reject) => {
        ex.on('entry', (header, stream, next) => {
          const name = header.name.replace(/^\.\//, '');
          const done = (err?: unknown): void => {
            if (err) {
              stream.resume();
              next(err as Error);
            } else next();
          };
          if (header.type !== 'file' && header.type !== 'contiguous-file') {
            stream.resume();
            next();
            return;
          }
          const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
          if (blob) {
            const digest = `sha256:${blob[1]}`;
            release.push(this.lease([digest]));
            this.d.content
              .ingest({ digest, size: header.size }, () => Readable.from(stream as AsyncIterable<Buffer>))
              .then(() => {
                // ingest skips the stream when the blob already exists: drain what it did not read.
                stream.resume();
                stored.set(name, digest);
                done();
              }, done);
            return;
          }
          if (header.size <= 8 << 20 && !name.endsWith('layer.tar')) {
            const parts: Buffer[] = [];
            stream.on('data', (c: unknown) => parts.push(c as Buffer));
            stream.on('end', () => {
              small.set(name, Buffer.concat(parts));
              done();
            });
            stream.on('error', done);
            return;
          }
          this.d.content.writeStream(Readable.from(stream as AsyncIterable<Buffer>)).then((info) => {
            release.push(this.lease([info.digest]));
            stored.set(name, info.digest);
            done();
          }, done);
        });
        ex.on('finish', resolve);
        ex.on('error', reject);
        plain.on('error', reject);
        plain.pipe(ex as unknown as NodeJS.WritableStream);
      });

      const blobOf = async (p: string): Promise<string> => {
        const d = stored.get(p);
        if (d) return d;
        const buf = small.get(p);
        if (!buf) throw invalid(`invalid archive: ${p} is missing`);
        const info = await this.d.content.writeBytes(buf);
        release.push(this.lease([info.digest]));
        stored.set(p, info.digest);
        return info.digest;
      };
      const loaded: string[] = [];
      const manifestJson = small.get('manifest.json');
      if (manifestJson) {
        const items = JSON.parse(manifestJson.toString('utf8')) as Array<{
          Config: string;
          RepoTags?: string[] | null;
          Layers: string[];
        }>;
        if (!Array.isArray(items)) throw invalid('invalid archive: manifest.json is not a list');
        for (const item of items) {
          const configDigest = await blobOf(item.Config);
          const layers: Descriptor[] = [];
          for (const l of item.Layers) {
            const digest = await blobOf(l);
            const info = await this.d.content.info(digest);
            const { head } = await peek(await this.d.content.reader(digest, { start: 0, end: 3 }), 4);
            const mediaType = { gzip: MediaType.OciLayerGzip, zstd: MediaType.OciLayerZstd, none: MediaType.OciLayer }[
              detectCompression(head)
            ];
            layers.push({ mediaType, digest, size: info!.size });
          }
          const id = await this.registerLoaded(configDigest, layers, undefined);
          loaded.push(...(await this.tagLoaded(id, item.RepoTags ?? [], progress)));
        }
      } else {
        const indexJson = small.get('index.json');
        if (!indexJson) throw invalid('invalid archive: neither manifest.json nor index.json found');
        const index = JSON.parse(indexJson.toString('utf8')) as ImageIndex;
        for (const m of index.manifests ?? []) {
          let desc: Descriptor | undefined = m;
          if (isIndexType(m.mediaType)) {
            desc = choosePlatform(
              JSON.parse((await this.d.content.readBytes(m.digest)).toString('utf8')) as ImageIndex,
            );
            if (!desc) continue;
          }
          const manifest = JSON.parse((await this.d.content.readBytes(desc.digest)).toString('utf8')) as ImageManifest;
          const id = await this.registerLoaded(manifest.config.digest, manifest.layers, desc);
          const nameAnn =
            m.annotations?.['io.containerd.image.name'] ?? m.annotations?.['org.opencontainers.image.ref.name'];
          const names = nameAnn && !/^[\w][\w.-]*$/.test(nameAnn) ? [nameAnn] : [];
          loaded.push(...(await this.tagLoaded(id, names, progress)));
        }
      }
      return loaded;
    } finally {
      for (const r of release) r();
    }
  }

  private async registerLoaded(
    configDigest: string,
    layers: Descriptor[],
    manifestDesc: Descriptor | undefined,
  ): Promise<string> {
    const configBytes = await this.d.content.readBytes(configDigest);
    const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== layers.length)
      throw invalid(`invalid archive: config has ${diffIds.length} diff IDs for ${layers.length} layers`);
    let manifest = manifestDesc;
    if (!manifest) {
      const m: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: configDigest, size: configBytes.length },
        layers,
      };
      const bytes = Buffer.from(JSON.stringify(m));
      const info = await this.d.content.writeBytes(bytes);
      manifest = { mediaType: MediaType.OciManifest, digest: info.digest, size: bytes.length };
    }
    const release = this.lease([manifest.digest, configDigest, ...chainIds(diffIds)]);
    try {
      await ensureSnapshots(this.d.content, this.d.snapshots, layers, diffIds, this.d.layerLimits);
      const existing = this.d.images.get(configDigest);
      await this.d.images.put(
        existing ?? {
          id: configDigest,
          manifest: { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size },
          layers,
          diffIds,
          added: new Date().toISOString(),
        },
      );
    } finally {
      release();
    }
    return configDigest;
  }

  private async tagLoaded(id: string, names: string[], progress: ProgressSink): Promise<string[]> {
    const out: string[] = [];
    for (const n of names) {
      const ref = parseWithDefaultTag(n);
      const before = await this.d.images.setRef(ref, id);
      if (before && before !== id) {
        progress({
          stream: `The image ${familiarString(ref)} already exists, renaming the old one with ID ${before} to empty string\n`,
        });
      }
      progress({ stream: `Loaded image: ${familiarString(ref)}\n` });
      out.push(familiarString(ref));
      this.d.events.publish('image', 'load', id, { name: familiarString(ref) });
    }
    if (names.length === 0) {
      progress({ stream: `Loaded image ID: ${id}\n` });
      out.push(id);
      this.d.events.publish('image', 'load', id, { name: id });
    }
    return out;
  }

  /** `docker import`: a rootfs tarball (optionally compressed) becomes a one-layer image. */
  async importImage(
    input: Readable,
    opts: { repo?: string; tag?: string; changes?: string[]; message?: string; platform?: string; source?: string },
  ): Promise<string> {
    const plain = await decompress(input);
    const layer = await storeLayer(this.d.content, plain);
    const release = this.lease([layer.desc.digest, layer.diffId]);
    try {
      const created = new Date().toISOString();
      const cfg: ContainerConfig = applyChanges({}, opts.changes ?? []);
      const config: ImageConfig = {
        architecture: 'amd64',
        os: 'linux',
        created,
        config: cfg,
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
        history: [{ created, comment: opts.message || `Imported from ${opts.source ?? '-'}` }],
      };
      if (opts.message) config.comment = opts.message;
      const configBytes = Buffer.from(JSON.stringify(config));
      const configInfo = await this.d.content.writeBytes(configBytes);
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: configInfo.digest, size: configBytes.length },
        layers: [layer.desc],
      };
      const id = await this.registerLoaded(configInfo.digest, [layer.desc], await this.storeManifest(manifest));
      if (opts.repo) {
        const base = parseNormalizedReference(opts.repo);
        const ref = opts.tag ? withTag(base, opts.tag) : base.tag ? base : withTag(base, 'latest');
        await this.d.images.setRef(ref, id);
      }
      this.d.events.publish('image', 'import', id, { name: id });
      return id;
    } finally {
      release();
    }
  }

  async storeManifest(manifest: ImageManifest): Promise<Descriptor> {
    const bytes = Buffer.from(JSON.stringify(manifest));
    const info = await this.d.content.writeBytes(bytes);
    return { mediaType: manifest.mediaType ?? MediaType.OciManifest, digest: info.digest, size: bytes.length };
  }

  /** Register an image built locally (build, commit) from its config and layer descriptors. */
  /**
   * An image from a config and its layers (commit, build). Build steps are `intermediate`: kept for the
   * build cache and hidden from `images` unless `-a`; an image made again as a final one loses the mark.
   */
  async createImage(
    config: ImageConfig,
    layers: Descriptor[],
    opts: { intermediate?: boolean } = {},
  ): Promise<ImageRecord> {
    const configBytes = Buffer.from(JSON.stringify(config));
    const configInfo = await this.d.content.writeBytes(configBytes);
    const desc = await this.storeManifest({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configInfo.digest, size: configBytes.length },
      layers,
    });
    const existed = this.d.images.get(configInfo.digest);
    const id = await this.registerLoaded(configInfo.digest, layers, desc);
    const rec = this.d.images.get(id)!;
    const intermediate = opts.intermediate === true && (!existed || existed.intermediate === true);
    if (!!rec.intermediate !== intermediate)
      await this.d.images.put({ ...rec, intermediate: intermediate || undefined });
    return this.d.images.get(id)!;
  }

  async df(): Promise<{ LayersSize: number; Images: ImageSummary[] }> {
    const images = await this.list({ sharedSize: true });
    let layers = 0;
    for (const s of await this.d.snapshots.list()) layers += s.size;
    return { LayersSize: layers, Images: images };
  }

  imageCount(): number {
    return this.d.images.list().length;
  }
}

const MAX_SOURCES = 8;

/** Remember that blobs exist in a repository, so later pushes to the same registry can mount them. */
function addSources(rec: ImageRecord, digests: string[], repo: string): void {
  const sources: Record<string, string[]> = { ...rec.sources };
  for (const d of digests) {
    const list = (sources[d] ?? []).filter((r) => r !== repo);
    list.unshift(repo);
    sources[d] = list.slice(0, MAX_SOURCES);
  }
  rec.sources = sources;
}

/** Docker's `reference` filter: a glob on the familiar name with optional tag. */
function matchReference(pattern: string, tag: string): boolean {
  const matches = anchoredRegex(
    pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]'),
    'reference filter',
  );
  if (pattern.includes(':')) return matches(tag);
  return matches(tag.slice(0, tag.lastIndexOf(':')));
}

/** `until` filter values: unix seconds, RFC 3339, or a Go duration like `24h` before now. */
export function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const dur = /^(\d+)(h|m|s)$/.exec(v);
  if (dur) return Date.now() - Number(dur[1]) * { h: 3600000, m: 60000, s: 1000 }[dur[2] as 'h' | 'm' | 's'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid filter 'until=${v}'`);
  return t;
}

/** The image config as the API shows it (Docker fills absent fields with empty values). */
export function containerConfigForApi(cfg: ContainerConfig): Record<string, unknown> {
  return {
    Hostname: '',
    Domainname: '',
    User: cfg.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(cfg.ExposedPorts ? { ExposedPorts: cfg.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: cfg.Env ?? null,
    Cmd: cfg.Cmd ?? null,
    ...(cfg.Healthcheck ? { Healthcheck: cfg.Healthcheck } : {}),
    ...(cfg.ArgsEscaped ? { ArgsEscaped: true } : {}),
    Image: '',
    Volumes: cfg.Volumes ?? null,
    WorkingDir: cfg.WorkingDir ?? '',
    Entrypoint: cfg.Entrypoint ?? null,
    OnBuild: cfg.OnBuild ?? null,
    Labels: cfg.Labels ?? null,
    ...(cfg.StopSignal ? { StopSignal: cfg.StopSignal } : {}),
    ...(cfg.Shell ? { Shell: cfg.Shell } : {}),
  };
}

export type { ImageRecord };
