/** Images made here: `docker import` of a filesystem tarball, and images from a container (commit) or a build. */
import { Readable } from 'node:stream';
import { decompress } from '../../diff/compression.js';
import { applyChanges } from '../../images/changes.js';
import {
  MediaType,
  type ContainerConfig,
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
} from '../../images/oci.js';
import { parseNormalizedReference, withTag } from '../../images/reference.js';
import type { ImageRecord } from '../../images/store.js';
import { storeLayer } from '../layers.js';
import type { ImageService } from './service.js';

export const createMethods = {
  /** `docker import`: a rootfs tarball (optionally compressed) becomes a one-layer image. */
  async importImage(
    this: ImageService,
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
  },

  async storeManifest(this: ImageService, manifest: ImageManifest): Promise<Descriptor> {
    const bytes = Buffer.from(JSON.stringify(manifest));
    const info = await this.d.content.writeBytes(bytes);
    return { mediaType: manifest.mediaType ?? MediaType.OciManifest, digest: info.digest, size: bytes.length };
  },

  /** Register an image built locally (build, commit) from its config and layer descriptors. */
  /**
   * An image from a config and its layers (commit, build). Build steps are `intermediate`: kept for the
   * build cache and hidden from `images` unless `-a`; an image made again as a final one loses the mark.
   */
  async createImage(
    this: ImageService,
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
  },
};
