/**
 * Registry storage: the shared content store for blob bytes, plus per-repository links saying which
 * blobs and manifests a repository holds and which tags point where, as the distribution registry
 * lays it out. Upload sessions live under `uploads/` on the same filesystem so a finished upload is
 * renamed into the content store without a copy.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { digestHex } from '../common/digest.js';
import { invalid, isNodeError } from '../common/errors.js';
import { isValidRepositoryPath, isValidTag } from '../images/reference.js';
import { readJson, writeFileAtomic } from '../common/fsutil.js';
import { FileContentStore } from '../content/store.js';

export interface UploadState {
  uuid: string;
  name: string;
  size: number;
  started: string;
}

export class RegistryStorage {
  /** Running hashes of uploads in progress (lost on restart, then recomputed from the data file). */
  private readonly hashes = new Map<string, { hash: Hash; size: number }>();

  private constructor(
    readonly root: string,
    readonly content: FileContentStore,
  ) {}

  static async open(root: string): Promise<RegistryStorage> {
    const content = await FileContentStore.open(root);
    await fs.mkdir(path.join(root, 'repositories'), { recursive: true });
    await fs.mkdir(path.join(root, 'uploads'), { recursive: true });
    return new RegistryStorage(root, content);
  }

  /** A repository's directory; the name is checked first, so no request names a path outside the root. */
  private repoDir(name: string): string {
    if (!isValidRepositoryPath(name)) throw invalid(`invalid repository name: ${JSON.stringify(name)}`);
    return path.join(this.root, 'repositories', name);
  }

  private tagPath(name: string, tag: string): string {
    if (!isValidTag(tag)) throw invalid(`invalid tag: ${JSON.stringify(tag)}`);
    return path.join(this.repoDir(name), '_manifests', 'tags', tag);
  }

  async linkBlob(name: string, digest: string): Promise<void> {
    const dir = path.join(this.repoDir(name), '_layers');
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, digestHex(digest)), '');
  }

  async hasBlob(name: string, digest: string): Promise<number | undefined> {
    try {
      await fs.access(path.join(this.repoDir(name), '_layers', digestHex(digest)));
    } catch {
      return undefined;
    }
    return (await this.content.info(digest))?.size;
  }

  async unlinkBlob(name: string, digest: string): Promise<boolean> {
    try {
      await fs.unlink(path.join(this.repoDir(name), '_layers', digestHex(digest)));
      return true;
    } catch (err) {
      if (isNodeError(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async putManifest(name: string, digest: string, mediaType: string, bytes: Buffer, tag?: string): Promise<void> {
    await this.content.writeBytes(bytes, digest);
    const rev = path.join(this.repoDir(name), '_manifests', 'revisions');
    await fs.mkdir(rev, { recursive: true });
    await writeFileAtomic(path.join(rev, digestHex(digest)), mediaType);
    if (tag) {
      const tags = path.join(this.repoDir(name), '_manifests', 'tags');
      await fs.mkdir(tags, { recursive: true });
      await writeFileAtomic(this.tagPath(name, tag), digest);
    }
  }

  async resolveTag(name: string, tag: string): Promise<string | undefined> {
    try {
      return (await fs.readFile(this.tagPath(name, tag), 'utf8')).trim();
    } catch {
      return undefined;
    }
  }

  async getManifest(name: string, digest: string): Promise<{ mediaType: string; bytes: Buffer } | undefined> {
    let mediaType: string;
    try {
      mediaType = await fs.readFile(
        path.join(this.repoDir(name), '_manifests', 'revisions', digestHex(digest)),
        'utf8',
      );
    } catch {
      return undefined;
    }
    try {
      return { mediaType, bytes: await this.content.readBytes(digest) };
    } catch {
      return undefined;
    }
  }

  /** Delete a manifest revision and every tag pointing at it. */
  async deleteManifest(name: string, digest: string): Promise<boolean> {
    try {
      await fs.unlink(path.join(this.repoDir(name), '_manifests', 'revisions', digestHex(digest)));
    } catch (err) {
      if (isNodeError(err, 'ENOENT')) return false;
      throw err;
    }
    for (const t of await this.tags(name)) {
      if ((await this.resolveTag(name, t)) === digest) await fs.rm(this.tagPath(name, t), { force: true });
    }
    return true;
  }

  async deleteTag(name: string, tag: string): Promise<boolean> {
    try {
      await fs.unlink(this.tagPath(name, tag));
      return true;
    } catch {
      return false;
    }
  }

  async repositoryExists(name: string): Promise<boolean> {
    try {
      await fs.access(path.join(this.repoDir(name), '_manifests'));
      return true;
    } catch {
      try {
        await fs.access(path.join(this.repoDir(name), '_layers'));
        return true;
      } catch {
        return false;
      }
    }
  }

  async tags(name: string): Promise<string[]> {
    try {
      return (await fs.readdir(path.join(this.repoDir(name), '_manifests', 'tags')))
        .filter((t) => isValidTag(t))
        .sort();
    } catch {
      return [];
    }
  }

  async catalog(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(path.join(this.root, 'repositories', rel), { withFileTypes: true });
      } catch {
        return;
      }
      if (entries.some((e) => e.name === '_manifests')) out.push(rel);
      for (const e of entries)
        if (e.isDirectory() && !e.name.startsWith('_')) await walk(rel ? `${rel}/${e.name}` : e.name);
    };
    await walk('');
    return out.sort();
  }

  // Upload sessions.

  private uploadDir(uuid: string): string {
    return path.join(this.root, 'uploads', uuid);
  }

  async startUpload(name: string): Promise<UploadState> {
    const state: UploadState = { uuid: randomUUID(), name, size: 0, started: new Date().toISOString() };
    await fs.mkdir(this.uploadDir(state.uuid), { recursive: true });
    await fs.writeFile(path.join(this.uploadDir(state.uuid), 'data'), '');
    await writeFileAtomic(path.join(this.uploadDir(state.uuid), 'state.json'), JSON.stringify(state));
    this.hashes.set(state.uuid, { hash: createHash('sha256'), size: 0 });
    return state;
  }

  async getUpload(name: string, uuid: string): Promise<UploadState | undefined> {
    if (!/^[0-9a-f-]{36}$/.test(uuid)) return undefined;
    const st = await readJson<UploadState>(path.join(this.uploadDir(uuid), 'state.json'));
    if (!st || st.name !== name) return undefined;
    const data = await fs.stat(path.join(this.uploadDir(uuid), 'data')).catch(() => undefined);
    if (!data) return undefined;
    st.size = data.size;
    return st;
  }

  uploadDataPath(uuid: string): string {
    return path.join(this.uploadDir(uuid), 'data');
  }

  /** Feed appended bytes to the running hash of an upload. */
  hashAppend(uuid: string, chunk: Buffer): void {
    const h = this.hashes.get(uuid);
    if (h) {
      h.hash.update(chunk);
      h.size += chunk.length;
    }
  }

  /** Forget the running hash (after a failed append), so completion re-reads the data. */
  invalidateHash(uuid: string): void {
    this.hashes.delete(uuid);
  }

  async uploadDigest(uuid: string): Promise<string> {
    const data = this.uploadDataPath(uuid);
    const size = (await fs.stat(data)).size;
    const h = this.hashes.get(uuid);
    if (h && h.size === size) return 'sha256:' + h.hash.copy().digest('hex');
    const hash = createHash('sha256');
    for await (const c of createReadStream(data)) hash.update(c as Buffer);
    return 'sha256:' + hash.digest('hex');
  }

  async completeUpload(name: string, uuid: string, digest: string): Promise<number> {
    const existing = await this.content.info(digest);
    let size: number;
    if (existing) {
      size = existing.size;
    } else {
      size = (await this.content.adoptFile(this.uploadDataPath(uuid), digest)).size;
    }
    await this.linkBlob(name, digest);
    await this.cancelUpload(uuid);
    return size;
  }

  async cancelUpload(uuid: string): Promise<void> {
    this.hashes.delete(uuid);
    await fs.rm(this.uploadDir(uuid), { recursive: true, force: true });
  }
}
