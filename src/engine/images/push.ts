/** Push: blobs the registry lacks (mounted from repositories known to hold them), then the manifest. */
import { shortId } from '../../common/digest.js';
import { errorMessage, GantryError, invalid, notFound } from '../../common/errors.js';
import { type Descriptor, type ImageManifest } from '../../images/oci.js';
import {
  familiarName,
  familiarString,
  fullName,
  parseNormalizedReference,
  withDigest,
  withTag,
  type Reference,
} from '../../images/reference.js';
import type { ImageRecord } from '../../images/store.js';
import type { AuthConfig } from '../../registry/auth.js';
import { withRetry, type RepositorySession } from '../../registry/client.js';
import { noProgress, throttledProgress, type ProgressSink } from '../progress.js';
import type { ImageService } from './service.js';
import { PULL_CONCURRENCY, addSources, mapLimit } from './util.js';

export const pushMethods = {
  // Push.

  async push(
    this: ImageService,
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
  },

  async pushBlob(
    this: ImageService,
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
  },
};
