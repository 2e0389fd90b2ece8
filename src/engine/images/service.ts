/** The image service: its shared state, and its methods gathered from a file per concern. */
import { chainIds } from '../../common/digest.js';
import { invalid } from '../../common/errors.js';
import type { ContentStore } from '../../content/store.js';
import { type ImageConfig } from '../../images/oci.js';
import { familiarString, parseNormalizedReference, withTag } from '../../images/reference.js';
import type { ImageRecord } from '../../images/store.js';
import { pullMethods } from './pull.js';
import { distributionMethods } from './distribution.js';
import { pushMethods } from './push.js';
import { queryMethods } from './query.js';
import { removeMethods } from './remove.js';
import { saveloadMethods } from './saveload.js';
import { createMethods } from './create.js';
import type { ImageServiceDeps, ImageSummary } from './types.js';

/**
 * The image service: pull, push, tag, remove, inspect, history, save, load, import, prune and disk
 * usage, as thin orchestrations over the content store, snapshotter, image metadata and registry
 * client. Garbage collection is by reference: removing an image drops its record, then `gc` deletes
 * blobs and snapshots nothing refers to (and nothing in flight holds a lease on).
 *
 * One type whose methods live in a file per concern (`pull`, `push`, `query`, `remove`, `saveload`,
 * `create`), as moby's image service; the state below is shared by them.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class ImageService {
  /** Digests and chain IDs in use by operations in flight; GC never removes these. */
  readonly leases = new Map<string, number>();

  constructor(readonly d: ImageServiceDeps) {}

  lease(keys: string[]): () => void {
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

  // Local operations.

  async tag(source: string, repo: string, tag: string | undefined): Promise<void> {
    const rec = this.resolve(source);
    const base = parseNormalizedReference(repo);
    if (base.digest) throw invalid('refusing to create a tag with a digest reference');
    const ref = tag ? withTag(base, tag) : base.tag ? base : withTag(base, 'latest');
    await this.d.images.setRef(ref, rec.id);
    this.d.events.publish('image', 'tag', rec.id, { name: familiarString(ref) });
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

type PullMethods = typeof pullMethods;
type PushMethods = typeof pushMethods;
type QueryMethods = typeof queryMethods;
type RemoveMethods = typeof removeMethods;
type SaveloadMethods = typeof saveloadMethods;
type CreateMethods = typeof createMethods;
type DistributionMethods = typeof distributionMethods;
// The methods of the files above, declared on the class (the merge is what makes them its own).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface ImageService
  extends PullMethods, PushMethods, QueryMethods, RemoveMethods, SaveloadMethods, CreateMethods, DistributionMethods {}

Object.assign(
  ImageService.prototype,
  pullMethods,
  pushMethods,
  queryMethods,
  removeMethods,
  saveloadMethods,
  createMethods,
  distributionMethods,
);
