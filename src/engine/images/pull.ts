/** Pull: the manifest for this platform, layers downloaded a few at a time and unpacked as they arrive, verified against their digests. */
import { promises as fs } from 'node:fs';
import { chainIds, shortId } from '../../common/digest.js';
import { errorMessage, GantryError, invalid, notFound } from '../../common/errors.js';
import {
  choosePlatform,
  isIndexType,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
} from '../../images/oci.js';
import {
  familiarName,
  familiarString,
  fullName,
  parseWithDefaultTag,
  withDigest,
  type Reference,
} from '../../images/reference.js';
import type { ImageRecord } from '../../images/store.js';
import type { AuthConfig } from '../../registry/auth.js';
import { RegistryError, withRetry, type RepositorySession } from '../../registry/client.js';
import { RawBody } from '../../registry/rawbody.js';
import type { BlobInfo } from '../../content/store.js';
import { prewarmUnpacker, unpackInWorker } from '../layerpool.js';
import { noProgress, throttledProgress, type ProgressSink } from '../progress.js';
import type { ImageService } from './service.js';
import { PULL_CONCURRENCY, addSources, mapLimit } from './util.js';
import { crashPoint } from '../../common/faults.js';

export const pullMethods = {
  // Pull.

  async pull(
    this: ImageService,
    refStr: string,
    auth: AuthConfig | undefined,
    progress: ProgressSink = noProgress,
  ): Promise<ImageRecord> {
    const ref = parseWithDefaultTag(refStr);
    prewarmUnpacker();
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
      crashPoint('pull:config');
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
  },

  pullError(this: ImageService, ref: Reference, err: unknown): Error {
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
  },

  /**
   * Fetch one layer and unpack it. A missing blob streams from the registry to an unpack worker, which
   * writes it to a file for the content store and unpacks it into the snapshot at the same time; the
   * blob's digest and size and then the diff ID are checked before either is kept.
   */
  async pullLayer(
    this: ImageService,
    s: RepositorySession,
    layer: Descriptor,
    chain: string,
    parent: string | undefined,
    diffId: string,
    progress: ProgressSink,
  ): Promise<void> {
    const id = shortId(layer.digest);
    const started = Date.now();
    if (!(await this.d.content.info(layer.digest))) {
      const report = throttledProgress(progress, id, 'Downloading', layer.size);
      const needSnapshot = !(await this.d.snapshots.stat(chain));
      await withRetry(
        () =>
          needSnapshot
            ? this.downloadAndUnpack(s, layer, chain, parent, diffId, report)
            : this.download(s, layer, report),
        3,
        (err) => this.d.logger.warn({ digest: layer.digest, err: errorMessage(err) }, 'retrying layer download'),
      );
      this.d.logger.debug({ digest: layer.digest, ms: Date.now() - started }, 'layer downloaded');
      crashPoint('pull:layer');
      progress({ status: 'Verifying Checksum', progressDetail: {}, id });
      progress({ status: 'Download complete', progressDetail: {}, id });
    }
    if (!(await this.d.snapshots.stat(chain))) {
      progress({ status: 'Extracting', progressDetail: { current: 0, total: layer.size }, id });
      await this.d.snapshots.extract(chain, parent, diffId, async (dir) =>
        unpackInWorker(await this.d.content.reader(layer.digest), dir, diffId, { limits: this.d.layerLimits }),
      );
    }
    this.d.logger.debug({ digest: layer.digest, ms: Date.now() - started }, 'layer unpacked');
    progress({ status: 'Pull complete', progressDetail: {}, id });
  },

  /** Store a blob from the registry (`report` gets the bytes received so far). */
  async download(this: ImageService, s: RepositorySession, layer: Descriptor, report: (n: number) => void) {
    await this.d.content.ingest(layer, async () => {
      const { stream } = await s.getBlob(layer.digest);
      let received = 0;
      stream.on('data', (c: Buffer) => report((received += c.length)));
      return stream;
    });
  },

  /** One download, stored and unpacked by a worker at once (see pullLayer). */
  async downloadAndUnpack(
    this: ImageService,
    s: RepositorySession,
    layer: Descriptor,
    chain: string,
    parent: string | undefined,
    diffId: string,
    report: (n: number) => void,
  ): Promise<void> {
    // Read raw into the worker's shared memory where the registry answers plainly; otherwise as a stream.
    const source = (await s.getBlobBody(layer.digest)) ?? (await s.getBlob(layer.digest)).stream;
    // Until a reader takes the stream (the worker, or the store below), its errors are only kept.
    if (!(source instanceof RawBody)) source.on('error', () => undefined);
    const file = this.d.content.ingestPath();
    let received = 0;
    let blob: BlobInfo | undefined;
    let used = false;
    try {
      await this.d.snapshots.extract(chain, parent, diffId, async (dir) => {
        used = true;
        // A blob that is not the one promised fails the unpack too: no snapshot is left behind.
        const res = await unpackInWorker(source, dir, diffId, {
          limits: this.d.layerLimits,
          blobFile: file,
          expectedBlob: layer,
          onBytes: (n) => report((received += n)),
        });
        blob = res.blob;
        return res;
      });
      if (blob) {
        await this.d.content.adoptFile(file, layer.digest);
        return;
      }
    } finally {
      if (!used) source.destroy();
      await fs.rm(file, { force: true });
    }
    // Another pull unpacked this chain meanwhile: only the blob is still to store.
    await this.download(s, layer, report);
  },
};
