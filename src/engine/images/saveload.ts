/** `docker save` and `docker load`: docker-archive tarballs in and out. */
import { Readable } from 'node:stream';
import { pack as tarPack, extract as tarExtract } from 'tar-stream';
import { chainIds, hexOf } from '../../common/digest.js';
import { invalid, notFound } from '../../common/errors.js';
import { decompress, detectCompression, peek } from '../../diff/compression.js';
import {
  choosePlatform,
  isIndexType,
  MediaType,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
} from '../../images/oci.js';
import {
  familiarName,
  familiarString,
  fullName,
  parseNormalizedReference,
  parseWithDefaultTag,
  type Reference,
} from '../../images/reference.js';
import type { ImageRecord } from '../../images/store.js';
import { ensureSnapshots } from '../layers.js';
import { noProgress, type ProgressSink } from '../progress.js';
import type { ImageService } from './service.js';

export const saveloadMethods = {
  // Save and load.

  /**
   * `docker save`: an archive that is both an OCI image layout (index.json, blobs/) and a docker-archive
   * (manifest.json, repositories), as Docker 25+ writes. Layer blobs are written as stored.
   */
  save(this: ImageService, names: string[]): Readable {
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
  },

  /** What the user typed as a reference, or undefined when it was an image ID. */
  userReference(this: ImageService, n: string): Reference | undefined {
    if (/^(sha256:)?[a-f0-9]{1,64}$/.test(n) && this.d.images.tryResolve(n)?.id.includes(n.replace('sha256:', '')))
      return undefined;
    try {
      const r = parseNormalizedReference(n);
      return r.tag || r.digest ? r : { ...r, tag: 'latest' };
    } catch {
      return undefined;
    }
  },

  /** `docker load` of a docker-archive or OCI layout tar (optionally compressed). */
  async load(this: ImageService, input: Readable, progress: ProgressSink = noProgress): Promise<string[]> {
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
            const start = await this.d.content.reader(digest, { start: 0, end: 3 });
            const head = await peek(start, 4).finally(() => start.destroy());
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
  },

  async registerLoaded(
    this: ImageService,
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
  },

  async tagLoaded(this: ImageService, id: string, names: string[], progress: ProgressSink): Promise<string[]> {
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
  },
};
