/**
 * Image metadata: which images exist (by ID = config digest) and which names point at them.
 * The bytes themselves (manifests, configs, layers) live in the content store; unpacked layers in the
 * snapshot store. Held in memory and written through atomically, one JSON file per image plus one
 * file of references, so a crash never loses or corrupts what was acknowledged.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { digestHex, hexOf } from '../common/digest.js';
import { GantryError, notFound } from '../common/errors.js';
import { readJson, writeJsonAtomic } from '../common/fsutil.js';
import type { Descriptor } from './oci.js';
import {
  familiarString,
  fullName,
  parseNormalizedReference,
  referenceString,
  type Reference,
  DEFAULT_TAG,
} from './reference.js';

export interface ImageRecord {
  /** sha256 of the config blob. */
  id: string;
  /** The single-platform manifest in the content store. */
  manifest: Descriptor;
  /** Compressed layer blobs, as listed in the manifest (kept for push and save). */
  layers: Descriptor[];
  /** Diff IDs from the config; their chain IDs key the snapshots. */
  diffIds: string[];
  /** When the image record was made locally (pull, load, import, build). */
  added: string;
  /** When a tag last pointed here (Docker's Metadata.LastTagTime). */
  lastTagTime?: string;
  /** Repositories (full names) each blob is known to exist in, for cross-repository mounts. */
  sources?: Record<string, string[]>;
  /** A build step's image (the build cache), not shown by `images` without `-a`. */
  intermediate?: boolean;
}

interface RefsFile {
  /** Full reference string (`docker.io/library/busybox:latest` or `...@sha256:`) to image ID. */
  refs: Record<string, string>;
}

export class ImageStore {
  private readonly images = new Map<string, ImageRecord>();
  private refs: Record<string, string> = {};
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(private readonly root: string) {}

  static async open(root: string): Promise<ImageStore> {
    const s = new ImageStore(root);
    await fs.mkdir(path.join(root, 'images'), { recursive: true });
    for (const name of await fs.readdir(path.join(root, 'images'))) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const rec = await readJson<ImageRecord>(path.join(root, 'images', name));
      if (rec) s.images.set(rec.id, rec);
    }
    const refs = await readJson<RefsFile>(path.join(root, 'repositories.json'));
    for (const [r, id] of Object.entries(refs?.refs ?? {})) if (s.images.has(id)) s.refs[r] = id;
    return s;
  }

  /** Serialise writes so concurrent requests never interleave a read-modify-write. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.writes.then(fn, fn);
    this.writes = p.catch(() => undefined);
    return p;
  }

  private saveRefs(): Promise<void> {
    return writeJsonAtomic(path.join(this.root, 'repositories.json'), { refs: this.refs } satisfies RefsFile);
  }

  get(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }

  list(): ImageRecord[] {
    return [...this.images.values()];
  }

  put(rec: ImageRecord): Promise<void> {
    return this.serial(async () => {
      await writeJsonAtomic(path.join(this.root, 'images', `${digestHex(rec.id)}.json`), rec);
      this.images.set(rec.id, rec);
    });
  }

  /** Point a tag or digest reference at an image; returns the ID it pointed at before, if any. */
  setRef(ref: Reference, id: string): Promise<string | undefined> {
    return this.serial(async () => {
      const key = referenceString(ref);
      const before = this.refs[key];
      this.refs[key] = id;
      await this.saveRefs();
      const rec = this.images.get(id);
      if (rec && ref.tag) {
        rec.lastTagTime = new Date().toISOString();
        await writeJsonAtomic(path.join(this.root, 'images', `${digestHex(rec.id)}.json`), rec);
      }
      return before;
    });
  }

  removeRef(ref: Reference): Promise<boolean> {
    return this.serial(async () => {
      const key = referenceString(ref);
      if (!(key in this.refs)) return false;
      delete this.refs[key];
      await this.saveRefs();
      return true;
    });
  }

  /** Remove the image record and every reference to it. */
  delete(id: string): Promise<void> {
    return this.serial(async () => {
      for (const [k, v] of Object.entries(this.refs)) if (v === id) delete this.refs[k];
      await this.saveRefs();
      this.images.delete(id);
      await fs.rm(path.join(this.root, 'images', `${digestHex(id)}.json`), { force: true });
    });
  }

  /** References pointing at an image, as parsed references. */
  refsOf(id: string): Reference[] {
    return Object.entries(this.refs)
      .filter(([, v]) => v === id)
      .map(([k]) => parseNormalizedReference(k));
  }

  /** `busybox:latest` style tags of an image, sorted. */
  repoTags(id: string): string[] {
    return this.refsOf(id)
      .filter((r) => r.tag)
      .map(familiarString)
      .sort();
  }

  /** `busybox@sha256:...` style digests of an image, sorted. */
  repoDigests(id: string): string[] {
    return this.refsOf(id)
      .filter((r) => r.digest)
      .map(familiarString)
      .sort();
  }

  lookupRef(ref: Reference): string | undefined {
    return this.refs[referenceString(ref)];
  }

  allRefs(): Array<[Reference, string]> {
    return Object.entries(this.refs).map(([k, v]) => [parseNormalizedReference(k), v]);
  }

  /**
   * Resolve what a user typed (`busybox`, `busybox:1`, `name@sha256:..`, a full or short ID) to an
   * image, in Docker's order: reference first, then ID prefix.
   */
  resolve(nameOrId: string): ImageRecord {
    const found = this.tryResolve(nameOrId);
    if (!found) throw notFound(`No such image: ${nameOrId}`);
    return found;
  }

  tryResolve(nameOrId: string): ImageRecord | undefined {
    const full = /^sha256:([a-f0-9]{64})$/.exec(nameOrId);
    if (full) return this.images.get(nameOrId);
    let ref: Reference | undefined;
    try {
      ref = parseNormalizedReference(nameOrId);
    } catch {
      ref = undefined;
    }
    if (ref) {
      const withTag = ref.tag || ref.digest ? ref : { ...ref, tag: DEFAULT_TAG };
      const id = this.lookupRef(withTag);
      if (id) return this.images.get(id);
      if (ref.digest) {
        // A digest reference matches any repository of the same name holding that manifest digest.
        for (const rec of this.images.values()) {
          if (rec.manifest.digest === ref.digest && this.refsOf(rec.id).some((r) => fullName(r) === fullName(ref!)))
            return rec;
        }
      }
    }
    const prefix = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(nameOrId);
    if (prefix) {
      const matches = [...this.images.keys()].filter((id) => hexOf(id).startsWith(prefix[1]!));
      if (matches.length > 1) throw new GantryError('invalid', `multiple IDs found with provided prefix: ${nameOrId}`);
      if (matches.length === 1) return this.images.get(matches[0]!);
    }
    return undefined;
  }
}
